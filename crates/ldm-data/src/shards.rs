//! Shard lists for webdataset: brace ranges (`data-{0000..0099}.tar`), brace lists
//! (`{a,b}.tar`) and globs (`shards/*.tar`).

use std::path::PathBuf;

/// Expand one pattern into the existing shard files it names, in order.
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in expand_braces(pattern)? {
        if p.contains(['*', '?', '[']) {
            let mut hits: Vec<PathBuf> = glob::glob(&p)
                .map_err(|e| format!("bad glob '{p}': {e}"))?
                .filter_map(Result::ok)
                .collect();
            hits.sort();
            out.extend(hits);
        } else {
            out.push(PathBuf::from(p));
        }
    }
    Ok(out)
}

/// Expand the first `{...}` group, then recurse on the rest.
fn expand_braces(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('{') else {
        return Ok(vec![pattern.to_string()]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|i| open + i)
        .ok_or_else(|| format!("unclosed '{{' in shard pattern '{pattern}'"))?;
    let (head, body, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let items: Vec<String> = if let Some((a, b)) = body.split_once("..") {
        let (lo, hi) = (a.parse::<u64>(), b.parse::<u64>());
        let (Ok(lo), Ok(hi)) = (lo, hi) else {
            return Err(format!(
                "bad range '{{{body}}}' in shard pattern '{pattern}'"
            ));
        };
        if lo > hi {
            return Err(format!(
                "empty range '{{{body}}}' in shard pattern '{pattern}'"
            ));
        }
        // Zero padding follows the lower bound as written: {0000..0099}.
        let width = if a.starts_with('0') && a.len() > 1 {
            a.len()
        } else {
            0
        };
        (lo..=hi).map(|i| format!("{i:0width$}")).collect()
    } else {
        body.split(',').map(str::to_string).collect()
    };
    let mut out = Vec::new();
    for item in items {
        out.extend(expand_braces(&format!("{head}{item}{tail}"))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_keep_padding_and_lists_expand() {
        let v = expand_braces("d-{0008..0011}.tar").unwrap();
        assert_eq!(v, ["d-0008.tar", "d-0009.tar", "d-0010.tar", "d-0011.tar"]);
        let v = expand_braces("{a,b}/{1..2}.tar").unwrap();
        assert_eq!(v, ["a/1.tar", "a/2.tar", "b/1.tar", "b/2.tar"]);
        assert!(expand_braces("x-{1..").is_err());
        assert!(expand_braces("x-{5..1}").is_err());
    }
}
