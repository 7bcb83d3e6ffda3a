//! A set of feature vectors (one row per image), the common input of FID and KID.

use burn::tensor::Tensor;
use nalgebra::DMatrix;

/// `len()` rows of `dim` features each, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    dim: usize,
    data: Vec<f32>,
}

impl Features {
    /// Rows of `dim` values laid end to end (e.g. a `[N, D]` tensor's data).
    pub fn new(data: Vec<f32>, dim: usize) -> Result<Self, String> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(format!(
                "{} values do not make rows of {dim} features",
                data.len()
            ));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "feature {} of row {} is not finite",
                i % dim,
                i / dim
            ));
        }
        Ok(Self { dim, data })
    }

    /// The rows of a `[N, D]` tensor, e.g. `Evaluator::image_features`.
    pub fn from_tensor(t: Tensor<2>) -> Result<Self, String> {
        let [_, dim] = t.dims();
        let data = t
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("{e:?}"))?;
        Self::new(data, dim)
    }

    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self, String> {
        let dim = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != dim) {
            return Err("rows have different lengths".into());
        }
        Self::new(rows.concat(), dim)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows listed in `rows` as an `[rows.len(), dim]` matrix in f64 (statistics of many
    /// rows lose precision in f32).
    pub(crate) fn matrix(&self, rows: &[usize]) -> DMatrix<f64> {
        DMatrix::from_fn(rows.len(), self.dim, |r, c| self.row(rows[r])[c] as f64)
    }

    pub(crate) fn all(&self) -> DMatrix<f64> {
        self.matrix(&(0..self.len()).collect::<Vec<_>>())
    }
}
