//! Reading pretrained LPIPS weights from the PyTorch files users have, through burn-store's
//! `PytorchStore`, with errors in the files' own key names.

use std::path::Path;

use burn::module::Module;
use burn::store::{ApplyError, ApplyResult, ModuleSnapshot, PytorchStore};
use burn::tensor::Device;

use super::{LpipsNet, PretrainedLpips};

/// Which part of the net a file is read for.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Trunk,
    Lin,
}

impl PretrainedLpips {
    /// The real LPIPS net (torchvision widths), frozen (`no_grad`: gradients reach the
    /// images, never the weights), from two files:
    ///
    /// - `backbone`: torchvision's ImageNet state dict of the trunk, `vgg16-397923af.pth` or
    ///   `alexnet-owt-7be5be79.pth` (keys `features.N.weight/bias`; the classifier is
    ///   ignored), or a whole LPIPS state dict saved by
    ///   `torch.save(lpips.LPIPS(...).state_dict())` (keys `net.sliceK.N.*`, `linK.*`);
    /// - `linear`: the `lpips` package's `weights/v0.1/vgg.pth` or `alex.pth` (keys
    ///   `linK.model.1.weight`), or `None` when `backbone` is a whole LPIPS state dict.
    pub fn load(
        net: LpipsNet,
        backbone: &Path,
        linear: Option<&Path>,
        device: &Device,
    ) -> Result<Self, String> {
        Self::load_with_widths(net, net.default_widths(), backbone, linear, device)
    }

    /// [`Self::load`] for a net of other tap widths (the narrow test fixtures).
    pub fn load_with_widths(
        net: LpipsNet,
        widths: [usize; 5],
        backbone: &Path,
        linear: Option<&Path>,
        device: &Device,
    ) -> Result<Self, String> {
        let mut m = Self::new(net, widths, device);
        // A whole LPIPS state dict carries the lin layers too: read everything it has, and
        // let a separate `linear` file, when given, supply (and override) them.
        let res = apply(&mut m, backbone, None)?;
        check(&res, net, backbone, Part::Trunk)?;
        match linear {
            Some(path) => {
                let res = apply(&mut m, path, Some(Part::Lin))?;
                check(&res, net, path, Part::Lin)?;
            }
            None => check(&res, net, backbone, Part::Lin).map_err(|e| {
                let file = match net {
                    LpipsNet::Vgg => "vgg.pth",
                    LpipsNet::Alex => "alex.pth",
                };
                format!(
                    "{e} (they are in the lpips package's weights/v0.1/{file}, a separate file)"
                )
            })?,
        }
        let file = linear.unwrap_or(backbone);
        for (k, lin) in m.lin.iter().enumerate() {
            // LPIPS trains these as non-negative channel weights (it clamps them); a
            // negative one would let a training loss be lowered by making images differ.
            let min = lin.weight.val().min().into_scalar::<f32>();
            if min < 0.0 {
                return Err(format!(
                    "{}: lin{k}.model.1.weight has a negative entry ({min}); LPIPS' linear \
                     layers are non-negative weights, so this is not an LPIPS weights file",
                    file.display()
                ));
            }
        }
        Ok(m.no_grad())
    }
}

/// Read `path` into `m`, mapping torchvision and lpips key names onto the module's paths
/// (`convs.i.*` in trunk order, `lin.k.weight`). `only` restricts what is written.
fn apply(m: &mut PretrainedLpips, path: &Path, only: Option<Part>) -> Result<ApplyResult, String> {
    let what = match only {
        Some(Part::Lin) => "LPIPS linear layer weights".to_string(),
        _ => format!("LPIPS {} trunk weights", m.net.name()),
    };
    std::fs::metadata(path)
        .map_err(|e| format!("cannot open the {what} {}: {e}", path.display()))?;
    let mut store = PytorchStore::from_file(path)
        // Keys are mapped explicitly below; burn's renumbering of gapped indices would
        // also renumber an incomplete file and blame the wrong keys.
        .map_indices_contiguous(false)
        .allow_partial(true)
        .validate(false)
        // A saved lpips.LPIPS: net.slice3.10.weight -> features.10.weight.
        .with_key_remapping(r"^net\.slice\d+\.(\d+)\.", "features.${1}.")
        // lin0.model.1.weight (with dropout, the package's default) or lin0.model.0.weight.
        .with_key_remapping(r"^lin(\d+)\.model\.\d+\.weight$", "lin.${1}.weight");
    for (i, n) in m.net.conv_indices().into_iter().enumerate() {
        store = store.with_key_remapping(
            format!(r"^features\.{n}\.(weight|bias)$"),
            format!("convs.{i}.${{1}}"),
        );
    }
    if only == Some(Part::Lin) {
        store = store.with_regex(r"^lin\.");
    }
    m.load_from(&mut store).map_err(|e| {
        format!(
            "{}: cannot read the {what} as a PyTorch state dict: {e}",
            path.display()
        )
    })
}

/// The file's key for the module path `p` (`convs.1.weight` -> `features.2.weight`).
fn file_key(net: LpipsNet, p: &str) -> String {
    let parts: Vec<&str> = p.split('.').collect();
    match parts.as_slice() {
        ["convs", i, kind] => {
            let n = i
                .parse::<usize>()
                .map_or(usize::MAX, |i| net.conv_indices()[i]);
            format!("features.{n}.{kind}")
        }
        ["lin", k, "weight"] => format!("lin{k}.model.1.weight"),
        _ => p.to_string(),
    }
}

fn prefix(part: Part) -> &'static str {
    match part {
        Part::Trunk => "convs.",
        Part::Lin => "lin.",
    }
}

/// An error naming the file and its missing or mismatched keys for `part`, if any.
fn check(res: &ApplyResult, net: LpipsNet, path: &Path, part: Part) -> Result<(), String> {
    let pre = prefix(part);
    let what = match part {
        Part::Trunk => format!("{} trunk", net.name()),
        Part::Lin => "LPIPS linear layer".to_string(),
    };
    let mismatched: Vec<String> = res
        .errors
        .iter()
        .filter_map(|e| match e {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => path.starts_with(pre).then(|| {
                format!(
                    "{} has shape {:?}, the LPIPS {} net needs {:?}",
                    file_key(net, path),
                    found.as_slice(),
                    net.name(),
                    expected.as_slice()
                )
            }),
            ApplyError::DTypeMismatch { path, .. }
            | ApplyError::AdapterError { path, .. }
            | ApplyError::LoadError { path, .. } => path
                .starts_with(pre)
                .then(|| format!("{}: {e}", file_key(net, path))),
        })
        .collect();
    if !mismatched.is_empty() {
        // The first few say what is wrong; a whole wrong-sized net would list every key.
        const SHOWN: usize = 4;
        let more = match mismatched.len().saturating_sub(SHOWN) {
            0 => String::new(),
            n => format!("; and {n} more"),
        };
        return Err(format!(
            "{}: wrong {what} weights: {}{more}",
            path.display(),
            mismatched[..mismatched.len().min(SHOWN)].join("; ")
        ));
    }
    let missing: Vec<String> = res
        .missing
        .iter()
        .filter(|(p, _)| p.starts_with(pre))
        .map(|(p, _)| file_key(net, p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let applied = res.applied.iter().any(|p| p.starts_with(pre));
    if applied {
        return Err(format!(
            "{}: incomplete {what} weights, missing {}",
            path.display(),
            missing.join(", ")
        ));
    }
    // Nothing of this part: probably the wrong file; say what was expected and what it has.
    let expected = match part {
        Part::Trunk => format!(
            "torchvision's {} state dict (features.{{{}}}.weight/bias) or a saved lpips.LPIPS \
             state dict (net.sliceK.N.*)",
            net.name(),
            net.conv_indices()
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        Part::Lin => "lin0.model.1.weight .. lin4.model.1.weight".to_string(),
    };
    let mut has: Vec<String> = res
        .applied
        .iter()
        .chain(&res.unused)
        .chain(&res.skipped)
        .take(6)
        .map(|p| file_key(net, p))
        .collect();
    if has.is_empty() {
        has.push("no tensors".into());
    }
    Err(format!(
        "{}: no {what} weights; expected {expected}, the file has {}",
        path.display(),
        has.join(", ")
    ))
}
