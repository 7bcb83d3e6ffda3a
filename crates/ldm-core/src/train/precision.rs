//! Mixed precision: the dtype a training step computes in. The weights stay f32 (and with
//! them the optimizer's moments, gradient clipping, the EMA and every checkpoint): in a bf16
//! or f16 step the model's input is cast to that dtype and its convolutions and linear layers
//! run on half-precision copies of the weights, whose gradients come back to the f32 weights
//! through the casts. Norms and attention compute in f32 and hand the half-precision dtype on
//! (`ops::in_f32`), as `torch.autocast` keeps its reductions in f32; the loss is taken in f32.
//!
//! bf16 has f32's exponent range and needs nothing more. f16 has 5 exponent bits: gradients
//! below 6e-8 flush to zero, so f16 steps scale the loss ([`LossScale`]). GPUs reached
//! through `wgpu` (WGSL) compute in f16 but not bf16; `flex` on the CPU computes in both.

use burn::tensor::{DType, Device};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Precision {
    /// The dtype the model computes in.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
            Precision::F16 => DType::F16,
        }
    }

    /// An error when the configured device cannot compute in this precision (a GPU without
    /// bf16 or f16 shader arithmetic), before any training starts.
    pub fn check(self, device: &Device) -> Result<(), String> {
        if device.supports_dtype(self.dtype()) {
            Ok(())
        } else {
            Err(format!(
                "precision = \"{}\": the configured device has no {:?} arithmetic ({})",
                self.name(),
                self.dtype(),
                match self {
                    Precision::Bf16 if device.supports_dtype(DType::F16) => {
                        "it has f16, as GPUs through wgpu do: use \"f16\" or \"f32\""
                    }
                    _ => "use \"f32\"",
                }
            ))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}
