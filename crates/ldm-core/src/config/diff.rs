//! Which keys differ between two configs (as JSON values), by dotted path: used on resume to
//! refuse a changed model shape by name and to warn about other changed keys.

use serde_json::Value;

/// A key whose value differs: (dotted key, old value, new value), values as compact JSON
/// (`null` where a side lacks the key).
pub type Change = (String, String, String);

/// Every leaf key under `prefix` whose value differs between `old` and `new`, in key order.
pub fn changed_keys(prefix: &str, old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(prefix, old, new, &mut out);
    out
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(
                    &sub,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if old != new => out.push((path.to_string(), old.to_string(), new.to_string())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_nested_leaves_only() {
        let a = json!({"model": {"ch": 32, "mult": [1, 2]}, "lr": 1e-4});
        let b = json!({"model": {"ch": 64, "mult": [1, 2]}, "lr": 1e-4, "new": true});
        assert_eq!(
            changed_keys("denoiser", &a, &b),
            vec![
                ("denoiser.model.ch".into(), "32".into(), "64".into()),
                ("denoiser.new".into(), "null".into(), "true".into()),
            ]
        );
        assert!(changed_keys("x", &a, &a).is_empty());
    }
}
