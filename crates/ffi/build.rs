//! Gives the shared library the soname it is installed under (`libsipwire.so.0`), so programs
//! linked against the staged `libsipwire.so` record that name, not the cargo file name.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "freebsd" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsipwire.so.0");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
