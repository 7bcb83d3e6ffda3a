//! Mixed precision: the dtype a training step computes in. The weights stay f32 (and with
//! them the optimizer's moments, gradient clipping, the EMA and every checkpoint): in a bf16
//! step the model's input is cast to bf16 and its convolutions and linear layers run on bf16
//! copies of the weights, whose gradients come back to the f32 weights through the casts.
//! Norms and attention compute in f32 and hand bf16 on (`ops::in_f32`), as `torch.autocast`
//! keeps its reductions in f32; the loss is taken in f32. bf16 has f32's exponent range, so,
//! unlike f16, it needs no loss scaling.

use burn::tensor::{DType, Device};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
}

impl Precision {
    /// The dtype the model computes in.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
        }
    }

    /// An error naming the device when it cannot compute in this precision (a GPU without
    /// bf16 shader arithmetic), before any training starts.
    pub fn check(self, device: &Device) -> Result<(), String> {
        if device.supports_dtype(self.dtype()) {
            Ok(())
        } else {
            Err(format!(
                "precision = \"{}\": the device {device:?} has no {:?} arithmetic (use \"f32\")",
                self.name(),
                self.dtype()
            ))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}
