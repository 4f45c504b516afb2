//! Release builds (`cargo lambda build --release`, `sam build`) link a non-PIE executable.
//! The build script of both functions and of the hello floor (`build = …` in theirs).
//!
//! A position-independent executable is relocated by the dynamic loader at every start: the
//! bootstrap had many thousands of dynamic relocations and a large `.data.rel.ro` (vtables,
//! static tables) that the loader touched and copied page by page before `main`
//! (docs/performance.md). Linked at a fixed
//! address those are resolved at link time, which is a cold start's CPU saved. Lambda
//! functions gain nothing from ASLR of their own image worth that, and a link argument from
//! here needs no RUSTFLAGS, which would replace the `target-cpu` cargo-lambda passes in
//! `build.rustflags`. The objects stay PIC (the linker relaxes their GOT loads); debug and
//! test builds are left as they are.
fn main() {
    if std::env::var("PROFILE").as_deref() == Ok("release")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
    {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
