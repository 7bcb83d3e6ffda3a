//! Autodiff rules for [`FastOps`]: each keeps its inputs and calls the backend's own backward
//! kernels, so one activation costs one saved tensor and two passes over memory, and a
//! convolution's gradients come from ldm's kernels rather than burn's generic derivation.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary, unary};
use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

use super::FastOps;

/// An elementwise op's backward step: its input is the state, `backward(x, grad)` the rule.
struct Elementwise<B: Backend> {
    backward: fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
}

impl<B: Backend> std::fmt::Debug for Elementwise<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Elementwise")
    }
}

impl<B: FastOps> Backward<B, 1> for Elementwise<B> {
    type State = FloatTensor<B>;
    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| (self.backward)(x, g));
    }
}

/// `forward` on autodiff tensors, keeping the input for `backward`.
fn elementwise<B: FastOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    forward: fn(FloatTensor<B>) -> FloatTensor<B>,
    backward: fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    let op = Elementwise { backward };
    match op.prepare::<C>([x.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let input = x.primitive().clone();
            prep.finish(input.clone(), forward(input))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive())),
    }
}

impl<B: FastOps, C: CheckpointStrategy> FastOps for Autodiff<B, C> {
    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::<B, C>(x, B::fast_silu, B::fast_silu_backward)
    }

    fn fast_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::<B, C>(x, B::fast_gelu, B::fast_gelu_backward)
    }

    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        conv2d::<B, C>(x, weight, options)
    }
}

/// The convolution's state: input, weights, options (each gradient needs the other tensor).
#[derive(Debug)]
struct Conv2d;

impl<B: FastOps> Backward<B, 2> for Conv2d {
    type State = (FloatTensor<B>, FloatTensor<B>, ConvOptions<2>);
    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, w, options) = ops.state;
        let (x2, w2, o2) = (x.clone(), w.clone(), options.clone());
        binary::<B, _, _>(
            ops.parents,
            ops.node,
            grads,
            |g| B::fast_conv2d_x_backward(x, w, g, options),
            |g| B::fast_conv2d_weight_backward(x2, w2, g, o2),
        );
    }
}

/// The convolution on autodiff tensors.
pub(super) fn conv2d<B: FastOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    w: FloatTensor<Autodiff<B, C>>,
    options: ConvOptions<2>,
) -> FloatTensor<Autodiff<B, C>> {
    match Conv2d
        .prepare::<C>([x.node(), w.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (xp, wp) = (x.primitive().clone(), w.primitive().clone());
            let out = B::fast_conv2d(xp.clone(), wp.clone(), options.clone());
            prep.finish((xp, wp, options), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::fast_conv2d(
            x.into_primitive(),
            w.into_primitive(),
            options,
        )),
    }
}
