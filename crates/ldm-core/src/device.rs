//! The compute device named in the config: `device = "cpu" | "wgpu" | "wgpu:N" | "cuda" | "cuda:N"`.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// Which backend and which card; parsed from the config, turned into a burn [`Device`] at
/// run time so one binary serves every machine it was built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// burn's `flex` CPU backend.
    Cpu,
    /// A GPU through wgpu (Vulkan, Metal, DX12); `None` picks the best adapter.
    Wgpu(Option<usize>),
    /// An NVIDIA GPU through CUDA.
    Cuda(usize),
}

impl Default for DeviceSpec {
    fn default() -> Self {
        DeviceSpec::Cpu
    }
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, index) = match s.split_once(':') {
            Some((n, i)) => {
                let i = i.parse::<usize>().map_err(|_| {
                    format!("device '{s}': the part after ':' must be a card index like 0 or 1")
                })?;
                (n, Some(i))
            }
            None => (s, None),
        };
        match (name, index) {
            ("cpu", None) => Ok(DeviceSpec::Cpu),
            ("wgpu", i) => Ok(DeviceSpec::Wgpu(i)),
            ("cuda", i) => Ok(DeviceSpec::Cuda(i.unwrap_or(0))),
            ("cpu", Some(_)) => Err(format!("device '{s}': the cpu device takes no index")),
            _ => Err(format!(
                "unknown device '{s}' (expected \"cpu\", \"wgpu\", \"wgpu:N\", \"cuda\" or \"cuda:N\")"
            )),
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Wgpu(None) => write!(f, "wgpu"),
            DeviceSpec::Wgpu(Some(i)) => write!(f, "wgpu:{i}"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceSpec {
    /// The burn device, or an error naming the cargo feature this binary lacks.
    pub fn device(&self) -> Result<Device, String> {
        match *self {
            DeviceSpec::Cpu => Ok(Device::flex()),
            DeviceSpec::Wgpu(index) => wgpu_device(index),
            DeviceSpec::Cuda(index) => cuda_device(index),
        }
    }
}

fn missing_feature(spec: &str, feature: &str) -> String {
    format!(
        "device = \"{spec}\" needs ldm built with the `{feature}` feature \
         (cargo build --release -p ldm-cli --features {feature})"
    )
}

#[cfg(feature = "wgpu")]
fn wgpu_device(index: Option<usize>) -> Result<Device, String> {
    use burn::tensor::DeviceKind;
    Ok(Device::wgpu(match index {
        None => DeviceKind::DefaultDevice,
        Some(i) => DeviceKind::DiscreteGpu(i),
    }))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device(_index: Option<usize>) -> Result<Device, String> {
    Err(missing_feature("wgpu", "wgpu"))
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Result<Device, String> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(index: usize) -> Result<Device, String> {
    Err(missing_feature(&format!("cuda:{index}"), "cuda"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_form() {
        for (text, spec) in [
            ("cpu", DeviceSpec::Cpu),
            ("wgpu", DeviceSpec::Wgpu(None)),
            ("wgpu:1", DeviceSpec::Wgpu(Some(1))),
            ("cuda", DeviceSpec::Cuda(0)),
            ("cuda:1", DeviceSpec::Cuda(1)),
        ] {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), spec);
        }
        assert_eq!(DeviceSpec::Cuda(1).to_string(), "cuda:1");
        assert!(
            "tpu"
                .parse::<DeviceSpec>()
                .unwrap_err()
                .contains("unknown device 'tpu'")
        );
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn missing_backend_names_the_feature() {
        let err = DeviceSpec::Cuda(1).device().unwrap_err();
        assert!(err.contains("`cuda` feature"), "{err}");
    }

    #[test]
    fn cpu_device_runs() {
        let device = DeviceSpec::Cpu.device().unwrap();
        let t = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        assert_eq!(t.sum().into_scalar::<f32>(), 6.0);
    }
}
