//! A bounds-checked front for the `gemm` crate (the matrix kernels flex itself uses).

pub use gemm::Parallelism;

/// A matrix view into a slice: element (i, j) is at `i * rs + j * cs`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// `dst` (m x n, row-major) = [`dst` +] `a` (m x k) · `b` (k x n).
pub fn matmul(
    dst: &mut [f32],
    mnk: [usize; 3],
    accumulate: bool,
    a: View,
    b: View,
    par: Parallelism,
) {
    matmul_strided(dst, mnk[1], mnk, accumulate, a, b, par)
}

/// [`matmul`] into rows `dst_rs` apart (a column block of a wider matrix); the elements
/// between the rows are left alone.
pub fn matmul_strided(
    dst: &mut [f32],
    dst_rs: usize,
    [m, n, k]: [usize; 3],
    accumulate: bool,
    a: View,
    b: View,
    par: Parallelism,
) {
    let last = |v: &View, rows: usize, cols: usize| (rows - 1) * v.rs + (cols - 1) * v.cs;
    assert!(m > 0 && n > 0 && k > 0);
    assert!(dst_rs >= n, "matmul: destination rows overlap");
    assert!(
        dst.len() >= (m - 1) * dst_rs + n,
        "matmul: destination too small"
    );
    assert!(last(&a, m, k) < a.data.len(), "matmul: lhs out of bounds");
    assert!(last(&b, k, n) < b.data.len(), "matmul: rhs out of bounds");
    // SAFETY: every index the kernel touches is within the slices (checked above), and
    // `dst` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}
