//! A copy of a model whose parameters are cut from the autodiff graph: gradients still flow
//! through it to its input, but the backward pass computes none for its weights. For a model
//! that only judges another's output in a step (the critic in the autoencoder's generator
//! step), that skips every weight-gradient convolution of its backward pass.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;

struct Detach;

impl ModuleMapper for Detach {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        // Not `detach`: burn's keeps a tensor's `require_grad`, so the weights would still
        // get gradients (as fresh leaves). Not `Module::no_grad` either: on a parameter not
        // drawn yet it rewrites the initialization the copy shares with the original, which
        // would then be drawn frozen too. `map` reads the value first, so such a parameter is
        // drawn once, in the state both share.
        p.map(|t| t.set_require_grad(false))
    }
}

/// `model` with parameters that take no gradient (the same values; the model itself is left
/// as it was).
pub fn frozen<M: Module>(model: &M) -> M {
    model.clone().map(&mut Detach)
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, Distribution, Tensor};

    use super::frozen;

    #[test]
    fn gradients_reach_the_input_but_not_the_weights() {
        let ad = Device::flex().autodiff();
        ad.seed(3);
        let layer: Linear = LinearConfig::new(4, 3).init(&ad);
        let x = Tensor::<2>::random([2, 4], Distribution::Normal(0.0, 1.0), &ad).require_grad();
        let copy = frozen(&layer);

        let grads = copy.forward(x.clone()).sum().backward();
        assert!(copy.weight.val().grad(&grads).is_none());
        assert!(layer.weight.val().grad(&grads).is_none());
        let dx_frozen = x.grad(&grads).expect("input is tracked");

        let grads = layer.forward(x.clone()).sum().backward();
        assert!(
            layer.weight.val().grad(&grads).is_some(),
            "the original still trains"
        );
        let dx = x.grad(&grads).expect("input is tracked");
        dx_frozen.into_data().assert_eq(&dx.into_data(), true);
        copy.weight
            .val()
            .into_data()
            .assert_eq(&layer.weight.val().into_data(), true);
    }
}
