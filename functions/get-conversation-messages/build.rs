//! Release builds link a non-PIE executable, for the reasons given in
//! functions/get-conversations/build.rs.
fn main() {
    if std::env::var("PROFILE").as_deref() == Ok("release")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
    {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
