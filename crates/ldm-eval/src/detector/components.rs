//! Connected regions of foreground pixels: one per object, before anything is known about it.

/// A 4-connected region of foreground pixels, as row-major pixel indices.
#[derive(Clone, Debug)]
pub struct Component {
    pub pixels: Vec<usize>,
}

/// Label the 4-connected regions of `mask` (row-major, `width` wide). 4-connectivity, not 8:
/// two objects whose anti-aliased corners meet diagonally stay apart.
pub fn components(mask: &[bool], width: usize) -> Vec<Component> {
    let height = mask.len() / width;
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![start];
        let mut pixels = Vec::new();
        while let Some(i) = stack.pop() {
            pixels.push(i);
            let (x, y) = (i % width, i / width);
            let mut visit = |j: usize| {
                if mask[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < width {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - width);
            }
            if y + 1 < height {
                visit(i + width);
            }
        }
        pixels.sort_unstable();
        out.push(Component { pixels });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_neighbours_are_separate() {
        #[rustfmt::skip]
        let m = [
            true,  true,  false, false,
            true,  false, false, false,
            false, false, true,  true,
            false, false, false, true,
        ];
        let c = components(&m, 4);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].pixels, vec![0, 1, 4]);
        assert_eq!(c[1].pixels, vec![10, 11, 15]);
    }
}
