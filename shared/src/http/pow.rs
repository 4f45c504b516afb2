//! `pow`, the one function of the C math library the functions' binaries call: the SDK's
//! adaptive retry rate limiter takes a cube root with `f64::powf`. Defined here, in Rust
//! (musl's `pow`, from rust-lang's `libm` crate), the linker no longer lists libm.so.6
//! among the libraries the loader maps and relocates at every process start: a cold
//! start's page faults and CPU saved (docs/performance.md). `make test` checks that the
//! release binaries list no libm.
//!
//! Only the functions (the `http` feature) carry it; `convo-admin` and the tests link the
//! system's libm as before.

/// The C library's `double pow(double x, double y)`, as musl computes it.
// SAFETY: no other definition of the symbol `pow` is linked into the functions' binaries
// (the `http` feature is theirs alone, and they no longer link libm), and this one has
// the C signature and meaning every caller of `pow` expects.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    use super::pow;

    #[test]
    fn powers_are_the_c_librarys() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(27.0, 1.0 / 3.0), 3.0);
        assert_eq!(pow(0.5, -2.0), 4.0);
        assert_eq!(pow(-8.0, 3.0), -512.0);
        assert_eq!(pow(7.0, 0.0), 1.0);
        assert!(pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
        // The rate limiter's use: a cube root (`1.0 / 3.0` is a little under a third, so
        // the result is as far from the exact root as that moves it).
        for x in [1e-9, 0.3, 1.5, 42.0, 1e12] {
            let root = pow(x, 1.0 / 3.0);
            assert!((root - x.cbrt()).abs() <= x.cbrt() * 1e-15, "{x}: {root}");
        }
    }
}
