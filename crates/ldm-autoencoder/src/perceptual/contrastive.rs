//! Contrastive self-supervision (SimCLR's InfoNCE): two augmented views of each image must
//! pick each other out of the batch. The head is used only for training and then dropped.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Bool, Device, Int, Tensor};

use super::FeatureNet;

#[derive(Module, Debug)]
pub struct ContrastiveHead {
    fc1: Linear,
    fc2: Linear,
}

impl ContrastiveHead {
    pub fn new(c_in: usize, dim: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(c_in, c_in).init(device),
            fc2: LinearConfig::new(c_in, dim).init(device),
        }
    }

    /// Unit-norm embeddings `[B, dim]` from the network's last stage, pooled over positions.
    pub fn embed(&self, net: &FeatureNet, x: Tensor<4>) -> Tensor<2> {
        let last = net.features(x).pop().expect("at least one stage");
        let [b, c, _, _] = last.dims();
        let pooled = last.mean_dims(&[2, 3]).reshape([b, c]);
        let z = self.fc2.forward(relu(self.fc1.forward(pooled)));
        let norm = z.clone().square().sum_dim(1).sqrt().add_scalar(1e-8);
        z / norm
    }
}

/// Similarity logits of `[2B, dim]` embeddings (views of image i at rows i and B+i), with each
/// row's similarity to itself masked out.
fn logits(z: Tensor<2>, temperature: f64) -> Tensor<2> {
    let [n, _] = z.dims();
    let sim = z.clone().matmul(z.transpose()).div_scalar(temperature);
    let eye: Tensor<2, Bool> = Tensor::<2, Int>::eye(n, &sim.device()).equal_elem(1);
    sim.mask_fill(eye, -1e9)
}

/// The row index of each row's partner view.
fn partners(n: usize, device: &Device) -> Tensor<1, Int> {
    let half = (n / 2) as i64;
    let idx: Vec<i64> = (0..n as i64)
        .map(|i| if i < half { i + half } else { i - half })
        .collect();
    Tensor::<1, Int>::from_ints(idx.as_slice(), device)
}

/// InfoNCE (NT-Xent) loss over `[2B, dim]` unit embeddings.
pub fn info_nce(z: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = z.dims();
    let l = log_softmax(logits(z, temperature), 1);
    let target = partners(n, &l.device()).reshape([n, 1]);
    l.gather(1, target).mean().neg()
}

/// Fraction of views whose most similar other view is their partner (chance: 1 / (2B - 1)).
pub fn retrieval_accuracy(z: Tensor<2>) -> f64 {
    let [n, _] = z.dims();
    let best = logits(z, 1.0).argmax(1).reshape([n]);
    let target = partners(n, &best.device());
    let hits = best.equal(target).int().sum().into_scalar::<i64>();
    hits as f64 / n as f64
}
