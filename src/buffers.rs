//! Buffers whose size comes from a model and its dimensions, that is from untrusted input. A
//! failed allocation aborts a Rust program, so each one is first tried fallibly: a size the
//! system cannot provide is an error, not an abort.

use crate::error::Error;

/// The element count of `shape`, or `None` when the product overflows `usize` (a shape from
/// an untrusted file or caller can ask for that).
pub(crate) fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// `len` zeroed values, for `what` (named in the error). Zeroed memory comes from the system's
/// zeroed allocator, so pages that are never written are never touched.
pub(crate) fn zeroed<T: Clone + Default>(len: usize, what: &str) -> Result<Vec<T>, Error> {
    probe::<T>(len, what)?;
    Ok(vec![T::default(); len])
}

/// Checks that `len` values of `T` can be allocated now (allocating and freeing them), for a
/// buffer someone else will allocate (tract, as it runs).
pub(crate) fn probe<T>(len: usize, what: &str) -> Result<(), Error> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        let bytes = len as f64 * std::mem::size_of::<T>().max(1) as f64;
        Error::InvalidArgument(format!(
            "{what}: {len} values ({:.3} GB) cannot be allocated; bind smaller dimensions",
            bytes / 1e9
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impossible_size_is_an_error_naming_the_buffer() {
        let e = zeroed::<f32>(usize::MAX / 2, "activation arena").unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("activation arena") && e.contains("cannot be allocated"),
            "{e}"
        );
        assert_eq!(zeroed::<f32>(5, "x").unwrap(), vec![0.0; 5]);
        assert!(zeroed::<f32>(0, "x").unwrap().is_empty());
    }
}
