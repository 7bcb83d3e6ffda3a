//! CLIP's symmetric InfoNCE: each image must pick its caption out of the batch, and each
//! caption its image. Small caption vocabularies repeat captions within a batch ("a red
//! circle" twice); such pairs are both right answers, so the target spreads evenly over every
//! column with the same caption instead of calling the duplicate a negative.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};

/// `[B, B]` targets: row i spreads 1 evenly over the captions equal to caption i.
pub fn targets(captions: &[String], device: &Device) -> Tensor<2> {
    let n = captions.len();
    let mut t = vec![0f32; n * n];
    for i in 0..n {
        let same: Vec<usize> = (0..n).filter(|&j| captions[j] == captions[i]).collect();
        for &j in &same {
            t[i * n + j] = 1.0 / same.len() as f32;
        }
    }
    Tensor::from_data(TensorData::new(t, [n, n]), device)
}

/// Mean of image-to-caption and caption-to-image cross-entropy over `[B, D]` unit features.
pub fn symmetric_info_nce(
    image: Tensor<2>,
    text: Tensor<2>,
    scale: Tensor<1>,
    targets: Tensor<2>,
) -> Tensor<1> {
    let [n, _] = image.dims();
    let logits = image.matmul(text.transpose()) * scale.reshape([1, 1]);
    let i2t = (log_softmax(logits.clone(), 1) * targets.clone())
        .sum()
        .neg();
    let t2i = (log_softmax(logits.transpose(), 1) * targets).sum().neg();
    (i2t + t2i).div_scalar(2.0 * n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn t2(v: &[f32], n: usize, d: usize) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v.to_vec(), [n, d]), &Device::flex())
    }

    #[test]
    fn known_values() {
        let device = Device::flex();
        let caps: Vec<String> = ["p", "q", "r"].iter().map(|s| s.to_string()).collect();
        let scale = Tensor::<1>::from_floats([10.0], &device);
        // Indistinguishable features: every caption equally likely, loss ln(3).
        let same = t2(&[1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 3, 2);
        let l = symmetric_info_nce(same.clone(), same, scale.clone(), targets(&caps, &device));
        assert!((l.into_scalar::<f64>() - 3f64.ln()).abs() < 1e-5);
        // Orthogonal, matched features: each row's logits are (10, 0, 0).
        let eye = t2(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], 3, 3);
        let l = symmetric_info_nce(eye.clone(), eye, scale, targets(&caps, &device));
        let want = -(10f64 - (10f64.exp() + 2.0).ln());
        assert!((l.into_scalar::<f64>() - want).abs() < 1e-5);
        // Duplicate captions share the target.
        let dup: Vec<String> = ["p", "p", "r"].iter().map(|s| s.to_string()).collect();
        let t = targets(&dup, &device)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(t, vec![0.5, 0.5, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 1.0]);
    }
}
