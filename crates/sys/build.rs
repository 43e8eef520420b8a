//! The one list of the OSes sipwire treats as BSD-like (kqueue, `accept` + `fcntl`, no
//! `SOCK_NONBLOCK` on macOS, ...). It sets `cfg(bsd)`; `sipwire-poll` uses this same script
//! (`build = "../sys/build.rs"`), so the list is written once for the whole workspace.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(bsd)");
    // Cargo reruns a changed build script by itself; nothing else feeds this one.
    println!("cargo::rerun-if-env-changed=CARGO_CFG_TARGET_OS");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "macos" | "ios" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo::rustc-cfg=bsd");
    }
}
