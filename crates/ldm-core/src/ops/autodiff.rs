//! Autodiff rules for [`FastOps`]: each keeps its inputs and calls the backend's own backward
//! kernels, so one activation costs one saved tensor and two passes over memory, and a
//! convolution's gradients come from ldm's kernels rather than burn's generic derivation.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

use super::FastOps;

/// An elementwise op's backward step (or any one-input op whose backward needs only its
/// input): the input is the state, `backward(x, grad)` the rule.
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

/// LeakyReLU's backward step: the input is the state, the slope the setting.
#[derive(Debug)]
struct LeakyRelu {
    slope: f64,
}

impl<B: FastOps> Backward<B, 1> for LeakyRelu {
    type State = FloatTensor<B>;
    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| {
            B::fast_leaky_relu_backward(x, g, self.slope)
        });
    }
}

/// The backward rule of an operation that only rearranges memory: the gradient itself.
fn pass_through<B: Backend>(_: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    grad
}

/// `forward` on autodiff tensors, keeping the input for `backward`.
fn elementwise<B: FastOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    forward: fn(FloatTensor<B>) -> FloatTensor<B>,
    backward: fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    keeping_input::<B, C, _>(x, Elementwise { backward }, forward)
}

/// `forward` on autodiff tensors, recorded as `op`, whose state is the input.
fn keeping_input<B: FastOps, C: CheckpointStrategy, Op>(
    x: FloatTensor<Autodiff<B, C>>,
    op: Op,
    forward: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    Op: Backward<B, 1, State = FloatTensor<B>>,
{
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

    fn fast_leaky_relu(x: FloatTensor<Self>, slope: f64) -> FloatTensor<Self> {
        keeping_input::<B, C, _>(x, LeakyRelu { slope }, |x| B::fast_leaky_relu(x, slope))
    }

    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        conv2d::<B, C>(x, weight, None, options)
    }

    fn fast_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        conv2d::<B, C>(x, weight, Some(bias), options)
    }

    fn fast_contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::<B, C>(x, B::fast_contiguous, pass_through::<B>)
    }

    fn fast_geglu(h: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::<B, C>(h, B::fast_geglu, B::fast_geglu_backward)
    }

    fn fast_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        linear::<B, C>(x, weight, None)
    }

    fn fast_linear_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        linear::<B, C>(x, weight, Some(bias))
    }

    fn fast_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
        silu: bool,
    ) -> FloatTensor<Self> {
        norm::<B, C>(x, gamma, beta, Norm::Group { groups, silu }, eps)
    }

    fn fast_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        pad: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        attention::<B, C>(q, k, v, pad, Attention { heads })
    }

    fn fast_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        norm::<B, C>(x, gamma, beta, Norm::Layer, eps)
    }
}

/// The convolution's state: input, weights, options (each gradient needs the other tensor).
#[derive(Debug)]
struct Conv2d;

type ConvState<B> = (FloatTensor<B>, FloatTensor<B>, ConvOptions<2>);

/// Registers the gradients of a convolution (with a bias when `parents` has a third entry)
/// that a parent needs. The output gradient is made contiguous once here: it arrives as a
/// strided view where the model transposed the output (the spatial transformer's
/// projections), and each half would otherwise copy it on its own.
fn conv_backward<B: FastOps>(
    parents: &[Option<NodeId>],
    (x, w, options): ConvState<B>,
    grad: FloatTensor<B>,
    grads: &mut Gradients,
) {
    let grad = B::fast_contiguous(grad);
    if let Some(id) = parents[0] {
        let dx = B::fast_conv2d_x_backward(x.clone(), w.clone(), grad.clone(), options.clone());
        grads.register::<B>(id, dx);
    }
    if let Some(id) = parents[1] {
        let dw = B::fast_conv2d_weight_backward(x, w, grad.clone(), options);
        grads.register::<B>(id, dw);
    }
    if let Some(Some(id)) = parents.get(2) {
        grads.register::<B>(*id, B::fast_conv2d_bias_backward(grad));
    }
}

/// Two parents (input, weights) or three (and the bias).
impl<B: FastOps, const N: usize> Backward<B, N> for Conv2d {
    type State = ConvState<B>;
    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let parents = ops.parents.map(|p| p.map(|n| n.id));
        conv_backward::<B>(&parents, ops.state, grad, grads);
    }
}

/// The convolution (with a bias where given) on autodiff tensors.
pub(super) fn conv2d<B: FastOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    w: FloatTensor<Autodiff<B, C>>,
    b: Option<FloatTensor<Autodiff<B, C>>>,
    options: ConvOptions<2>,
) -> FloatTensor<Autodiff<B, C>> {
    let (xp, wp) = (x.primitive().clone(), w.primitive().clone());
    let out = match &b {
        Some(b) => B::fast_conv2d_bias(
            xp.clone(),
            wp.clone(),
            b.primitive().clone(),
            options.clone(),
        ),
        None => B::fast_conv2d(xp.clone(), wp.clone(), options.clone()),
    };
    record_weighted::<B, C, _>(Conv2d, &x, &w, b.as_ref(), (xp, wp, options), out)
}

/// Records an operation on an input, weights and an optional bias (two or three parents)
/// whose output `out` is already computed; `state` is what its backward step needs.
fn record_weighted<B, C, Op>(
    op: Op,
    x: &FloatTensor<Autodiff<B, C>>,
    w: &FloatTensor<Autodiff<B, C>>,
    b: Option<&FloatTensor<Autodiff<B, C>>>,
    state: <Op as Backward<B, 2>>::State,
    out: FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: FastOps,
    C: CheckpointStrategy,
    Op: Backward<B, 2> + Backward<B, 3, State = <Op as Backward<B, 2>>::State>,
{
    match b {
        Some(b) => match <Op as Backward<B, 3>>::prepare::<C>(op, [x.node(), w.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        },
        None => match <Op as Backward<B, 2>>::prepare::<C>(op, [x.node(), w.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        },
    }
}

/// A linear layer's state: its input and weights (each gradient needs the other).
#[derive(Debug)]
struct Linear;

type LinearState<B> = (FloatTensor<B>, FloatTensor<B>);

/// Registers the gradients of `x W (+ b)` that a parent needs, each computed only then (an
/// input without gradient, such as frozen text features, costs no product).
fn linear_backward<B: FastOps>(
    parents: &[Option<NodeId>],
    (x, w): LinearState<B>,
    grad: FloatTensor<B>,
    grads: &mut Gradients,
) {
    if let Some(id) = parents[0] {
        grads.register::<B>(id, B::fast_linear_x_backward(w, grad.clone()));
    }
    if let Some(id) = parents[1] {
        grads.register::<B>(id, B::fast_linear_weight_backward(x, grad.clone()));
    }
    if let Some(Some(id)) = parents.get(2) {
        grads.register::<B>(*id, B::fast_linear_bias_backward(grad));
    }
}

/// Two parents (input, weights) or three (and the bias).
impl<B: FastOps, const N: usize> Backward<B, N> for Linear {
    type State = LinearState<B>;
    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let parents = ops.parents.map(|p| p.map(|n| n.id));
        linear_backward::<B>(&parents, ops.state, grad, grads);
    }
}

/// `x W (+ b)` on autodiff tensors.
fn linear<B: FastOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    w: FloatTensor<Autodiff<B, C>>,
    b: Option<FloatTensor<Autodiff<B, C>>>,
) -> FloatTensor<Autodiff<B, C>> {
    let (xp, wp) = (x.primitive().clone(), w.primitive().clone());
    let out = match &b {
        Some(b) => B::fast_linear_bias(xp.clone(), wp.clone(), b.primitive().clone()),
        None => B::fast_linear(xp.clone(), wp.clone()),
    };
    record_weighted::<B, C, _>(Linear, &x, &w, b.as_ref(), (xp, wp), out)
}

/// Which normalization (GroupNorm with its settings, or LayerNorm); the state of either is
/// the input, the affine parameters and the statistics.
#[derive(Debug, Clone, Copy)]
enum Norm {
    Group { groups: usize, silu: bool },
    Layer,
}

type NormState<B> = [FloatTensor<B>; 5];

impl Norm {
    /// The output and the statistics the backward pass needs.
    #[allow(clippy::type_complexity)]
    fn forward<B: FastOps>(
        self,
        x: FloatTensor<B>,
        gamma: FloatTensor<B>,
        beta: FloatTensor<B>,
        eps: f64,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        match self {
            Norm::Group { groups, silu } => {
                B::fast_group_norm_forward(x, gamma, beta, groups, eps, silu)
            }
            Norm::Layer => B::fast_layer_norm_forward(x, gamma, beta, eps),
        }
    }

    /// The output alone, where no gradient is tracked.
    fn output<B: FastOps>(
        self,
        x: FloatTensor<B>,
        gamma: FloatTensor<B>,
        beta: FloatTensor<B>,
        eps: f64,
    ) -> FloatTensor<B> {
        match self {
            Norm::Group { groups, silu } => B::fast_group_norm(x, gamma, beta, groups, eps, silu),
            Norm::Layer => B::fast_layer_norm(x, gamma, beta, eps),
        }
    }
}

impl<B: FastOps> Backward<B, 3> for Norm {
    type State = NormState<B>;
    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x, gamma, beta, mean, rstd] = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let (dx, dgamma, dbeta) = match self {
            Norm::Group { groups, silu } => {
                B::fast_group_norm_backward(x, gamma, beta, mean, rstd, grad, groups, silu)
            }
            Norm::Layer => B::fast_layer_norm_backward(x, gamma, beta, mean, rstd, grad),
        };
        for (parent, g) in ops.parents.into_iter().zip([dx, dgamma, dbeta]) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

/// GroupNorm (and SiLU) or LayerNorm on autodiff tensors.
fn norm<B: FastOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    gamma: FloatTensor<Autodiff<B, C>>,
    beta: FloatTensor<Autodiff<B, C>>,
    op: Norm,
    eps: f64,
) -> FloatTensor<Autodiff<B, C>> {
    match op
        .prepare::<C>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (xp, gp, bp) = (
                x.primitive().clone(),
                gamma.primitive().clone(),
                beta.primitive().clone(),
            );
            let (out, mean, rstd) = op.forward::<B>(xp.clone(), gp.clone(), bp.clone(), eps);
            prep.finish([xp, gp, bp, mean, rstd], out)
        }
        OpsKind::UnTracked(prep) => prep.finish(op.output::<B>(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            eps,
        )),
    }
}

/// Attention's settings; its state is q, k, v and the probabilities.
#[derive(Debug, Clone, Copy)]
struct Attention {
    heads: usize,
}

impl<B: FastOps> Backward<B, 3> for Attention {
    type State = [FloatTensor<B>; 4];
    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [q, k, v, probs] = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let (dq, dk, dv) = B::fast_attention_backward(q, k, v, probs, grad, self.heads);
        for (parent, g) in ops.parents.into_iter().zip([dq, dk, dv]) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

/// Attention on autodiff tensors; the padding mask is data (no gradient).
fn attention<B: FastOps, C: CheckpointStrategy>(
    q: FloatTensor<Autodiff<B, C>>,
    k: FloatTensor<Autodiff<B, C>>,
    v: FloatTensor<Autodiff<B, C>>,
    pad: FloatTensor<Autodiff<B, C>>,
    op: Attention,
) -> FloatTensor<Autodiff<B, C>> {
    let h = op.heads;
    match op
        .prepare::<C>([q.node(), k.node(), v.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (qp, kp, vp) = (
                q.primitive().clone(),
                k.primitive().clone(),
                v.primitive().clone(),
            );
            let (out, probs) = B::fast_attention_forward(
                qp.clone(),
                kp.clone(),
                vp.clone(),
                pad.into_primitive(),
                h,
            );
            prep.finish([qp, kp, vp, probs], out)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::fast_attention(
            q.into_primitive(),
            k.into_primitive(),
            v.into_primitive(),
            pad.into_primitive(),
            h,
        )),
    }
}
