//! Module weights as bytes (burnpack), for checkpoints and saved models. Parameter ids are
//! kept, so optimizer state saved beside the weights still lines up after loading.

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

pub fn to_bytes<M: Module>(m: &M) -> Result<Vec<u8>, String> {
    let bytes = m
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| format!("serializing weights: {e:?}"))?;
    Ok(bytes.to_vec())
}

/// Load weights into `m`; fails on missing or mismatched tensors rather than ignoring them.
pub fn from_bytes<M: Module>(m: M, bytes: &[u8]) -> Result<M, String> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| format!("not a weights file: {e:?}"))?;
    m.try_load_record(record)
        .map_err(|e| format!("weights do not fit the model: {e:?}"))
}

/// The tensors of a weights file by module path, as raw little-endian bytes. Parameter ids
/// (random per process) are left out: two runs have "the same weights" when these are equal.
pub fn tensors(bytes: &[u8]) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| format!("not a weights file: {e:?}"))?;
    reader
        .tensor_names()
        .into_iter()
        .map(|name| {
            let data = reader
                .tensor_data(name)
                .map_err(|e| format!("reading {name}: {e:?}"))?;
            Ok((name.to_string(), data))
        })
        .collect()
}

/// An optimizer state file's tensors and scalars by module path (`<path>.<field>`), raw bytes
/// (scalars as text): optimizer files key each entry by a parameter id that is random per
/// process, so they are compared through the id -> module path table they carry.
pub fn optimizer_state(
    bytes: &[u8],
) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| format!("not an optimizer state file: {e:?}"))?;
    let paths = reader.metadata();
    let by_path = |name: &str| -> Result<String, String> {
        let (id, field) = name.split_once('.').unwrap_or((name, ""));
        let path = paths
            .get(id)
            .ok_or_else(|| format!("optimizer entry {name} has no parameter path"))?;
        Ok(format!("{path}.{field}"))
    };
    let mut out = std::collections::BTreeMap::new();
    for name in reader.tensor_names() {
        let data = reader
            .tensor_data(name)
            .map_err(|e| format!("reading {name}: {e:?}"))?;
        out.insert(by_path(name)?, data);
    }
    for (name, value) in reader.scalars() {
        out.insert(by_path(name)?, format!("{value:?}").into_bytes());
    }
    Ok(out)
}
