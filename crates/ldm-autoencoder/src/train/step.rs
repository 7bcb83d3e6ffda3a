//! One generator (autoencoder) update and one critic update.
//!
//! With the GAN on, the adaptive weight needs the gradients of the reconstruction loss and of
//! the GAN loss at the decoder's last conv weight, separately. burn has no retain_graph, so
//! the decoder output is cut from the graph and each loss is differentiated on its own with
//! respect to that output (two small backward passes through the loss heads only). The weight
//! gradients then follow from the last conv's input, and the autoencoder's gradient is one
//! final backward pass of the surrogate `sum(output * (g_rec + lambda g_gan)) + kl`, which has
//! exactly the gradient of `L_rec + lambda L_gan + kl`.

use burn::nn::conv::Conv2d;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

use ldm_core::ops::conv2d_weights;
use ldm_core::train::frozen;

use crate::autoencoder::Autoencoder;
use crate::critic::Critic;
use crate::losses::{adaptive_weight, critic_loss, generator_loss, pixel_loss};
use crate::perceptual::Perceptual;

use super::config::LossConfig;

/// Loss terms of one generator step, for logging.
#[derive(Clone, Debug, Default)]
pub struct GenStats {
    pub total: f64,
    pub pixel: f64,
    pub perceptual: f64,
    pub kl: f64,
    pub gan: f64,
    pub lambda: f64,
}

pub struct GenStep {
    pub grads: GradientsParams,
    pub stats: GenStats,
    /// The reconstructions, cut from the graph, for the critic step.
    pub recon: Tensor<4>,
}

/// Pixel + weighted perceptual loss, and the two terms' values.
fn reconstruction(
    cfg: &LossConfig,
    perceptual: Option<&Perceptual>,
    recon: Tensor<4>,
    x: Tensor<4>,
) -> (Tensor<1>, f64, f64) {
    let pixel = pixel_loss(cfg.pixel, recon.clone(), x.clone());
    let pixel_v = pixel.clone().into_scalar::<f64>();
    match perceptual {
        Some(net) if cfg.perceptual_weight > 0.0 => {
            let p = net.distance(recon, x).mean();
            let p_v = p.clone().into_scalar::<f64>();
            (pixel + p.mul_scalar(cfg.perceptual_weight), pixel_v, p_v)
        }
        _ => (pixel, pixel_v, 0.0),
    }
}

/// Norm of dL/dW for the conv `layer`, given its input and dL/d(output).
fn weight_grad_norm(layer: &Conv2d, input: Tensor<4>, grad_out: Tensor<4>) -> f64 {
    let w = layer.weight.val().detach().require_grad();
    let k = w.dims()[2];
    let opts = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
    let out = conv2d_weights(input.detach(), w.clone(), opts);
    let grads = (out * grad_out).sum().backward();
    let g = w.grad(&grads).expect("weight is tracked");
    g.square().sum().into_scalar::<f64>().sqrt()
}

pub fn generator_step(
    ae: &Autoencoder,
    critic: &Critic,
    perceptual: Option<&Perceptual>,
    x: Tensor<4>,
    cfg: &LossConfig,
    gan_on: bool,
) -> GenStep {
    let posterior = ae.encode(x.clone());
    let (recon, features) = ae.decode_with_features(posterior.sample());
    let kl = posterior.kl();
    let mut stats = GenStats {
        kl: kl.clone().into_scalar::<f64>(),
        ..Default::default()
    };

    if !gan_on {
        let (rec, pixel, perc) = reconstruction(cfg, perceptual, recon.clone(), x);
        let total = rec + kl.mul_scalar(cfg.kl_weight);
        stats.total = total.clone().into_scalar::<f64>();
        (stats.pixel, stats.perceptual) = (pixel, perc);
        let grads = GradientsParams::from_grads(total.backward(), ae);
        return GenStep {
            grads,
            stats,
            recon: recon.detach(),
        };
    }

    // dL_rec/d(output) and dL_gan/d(output), each from its own small graph.
    let out_rec = recon.clone().detach().require_grad();
    let (rec, pixel, perc) = reconstruction(cfg, perceptual, out_rec.clone(), x);
    let rec_v = rec.clone().into_scalar::<f64>();
    let g_rec = out_rec.grad(&rec.backward()).expect("output is tracked");
    // The critic only judges here (its own step trains it): a frozen copy spares the
    // backward pass its weight gradients, which would be thrown away.
    let out_gan = recon.clone().detach().require_grad();
    let gan = generator_loss(cfg.gan, frozen(critic).forward(out_gan.clone()));
    let gan_v = gan.clone().into_scalar::<f64>();
    let g_gan = out_gan.grad(&gan.backward()).expect("output is tracked");

    let conv_out = &ae.decoder.conv_out;
    let lambda = cfg.disc_weight
        * adaptive_weight(
            weight_grad_norm(conv_out, features.clone(), g_rec.clone()),
            weight_grad_norm(conv_out, features, g_gan.clone()),
        );
    // A constant (no autodiff) factor: only `recon` carries gradients.
    let g_out = g_rec + g_gan.mul_scalar(lambda);
    let surrogate = (recon.clone() * g_out).sum() + kl.mul_scalar(cfg.kl_weight);
    stats.total = rec_v + lambda * gan_v + cfg.kl_weight * stats.kl;
    (stats.pixel, stats.perceptual, stats.gan, stats.lambda) = (pixel, perc, gan_v, lambda);
    let grads = GradientsParams::from_grads(surrogate.backward(), ae);
    GenStep {
        grads,
        stats,
        recon: recon.detach(),
    }
}

/// Critic loss on real images and (detached) reconstructions, its gradients, and the mean
/// logits on each (how well it separates them).
pub fn critic_step(
    critic: &Critic,
    real: Tensor<4>,
    fake: Tensor<4>,
    cfg: &LossConfig,
) -> (GradientsParams, f64, f64, f64) {
    // Real and fake images in one pass (every layer treats images independently: GroupNorm,
    // not BatchNorm), so each layer runs one GEMM over twice the columns, sharing one
    // packing of its weights, instead of two.
    let n = real.dims()[0];
    let logits = critic.forward(Tensor::cat(vec![real.detach(), fake.detach()], 0));
    let lf = logits.clone().narrow(0, n, logits.dims()[0] - n);
    let lr = logits.narrow(0, 0, n);
    let (mr, mf) = (
        lr.clone().mean().into_scalar::<f64>(),
        lf.clone().mean().into_scalar::<f64>(),
    );
    let loss = critic_loss(cfg.gan, lr, lf);
    let v = loss.clone().into_scalar::<f64>();
    (
        GradientsParams::from_grads(loss.backward(), critic),
        v,
        mr,
        mf,
    )
}
