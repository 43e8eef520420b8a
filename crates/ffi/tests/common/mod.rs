//! Building and running C programs against libsipwire from Rust tests: stage the libraries
//! cargo built for this test run (tools/c-stage.sh), compile with a C compiler and the
//! project's warning flags, link statically or against the shared library, run under
//! sanitizers or valgrind and fail on any report.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `target/<profile>`: where cargo put libsipwire_ffi.{a,so} for this run.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// The staged libsipwire (lib/, include/, lib/pkgconfig/) for this test binary, made once.
pub fn stage() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let pd = profile_dir();
        let profile = pd
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug")
            .to_string();
        let name = std::env::current_exe()
            .ok()
            .and_then(|e| e.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "c".into());
        let out = pd.join(format!("c-stage-{name}"));
        // `cargo test` builds the library into deps/ (only `cargo build` copies it up a
        // level): stage the copy this run built, falling back to the uplifted one.
        let src = pd.join(format!("c-src-{name}"));
        std::fs::create_dir_all(src.join(&profile)).expect("create the staging source");
        for f in ["libsipwire_ffi.a", "libsipwire_ffi.so"] {
            let from = [pd.join("deps").join(f), pd.join(f)]
                .into_iter()
                .find(|p| p.exists())
                .unwrap_or_else(|| panic!("{f} was not built"));
            std::fs::copy(&from, src.join(&profile).join(f)).expect("copy the library");
        }
        let st = Command::new(root().join("tools/c-stage.sh"))
            .arg(&profile)
            .arg(&out)
            .env("CARGO_TARGET_DIR", &src)
            .status()
            .expect("run tools/c-stage.sh");
        assert!(st.success(), "tools/c-stage.sh failed");
        out
    })
}

/// How a C program links libsipwire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// libsipwire.a, named by path.
    Static,
    /// -lsipwire with the flags `pkg-config --cflags --libs sipwire` gives, and an rpath.
    Shared,
}

/// Instrumentation to build with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Plain build (for valgrind, or the sipp runs).
    None,
    /// -fsanitize=address,undefined, aborting on the first report.
    Sanitizers,
}

/// The warning flags every C file of the project builds with.
pub const STRICT: &[&str] = &["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wpedantic"];

/// Compiles `sources` (paths relative to the repository root) into an executable `name`,
/// with [`STRICT`] flags plus `extra`; panics with the compiler's output on failure.
pub fn build(name: &str, sources: &[&str], link: Link, check: Check, extra: &[&str]) -> PathBuf {
    let stage = stage();
    let out = stage.join(format!(
        "{name}-{}-{}",
        match link {
            Link::Static => "static",
            Link::Shared => "shared",
        },
        match check {
            Check::None => "plain",
            Check::Sanitizers => "asan",
        }
    ));
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args(STRICT)
        .args(["-g", "-O1", "-D_GNU_SOURCE"])
        .args(extra);
    if check == Check::Sanitizers {
        cmd.args([
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
        ]);
    }
    cmd.arg("-I").arg(stage.join("include"));
    for s in sources {
        cmd.arg(root().join(s));
    }
    match link {
        Link::Static => {
            cmd.arg(stage.join("lib/libsipwire.a"))
                .args(["-lpthread", "-ldl", "-lm"]);
        }
        Link::Shared => {
            let pc = Command::new("pkg-config")
                .args(["--cflags", "--libs", "sipwire"])
                .env("PKG_CONFIG_PATH", stage.join("lib/pkgconfig"))
                .output()
                .expect("run pkg-config");
            assert!(
                pc.status.success(),
                "pkg-config sipwire failed: {}",
                String::from_utf8_lossy(&pc.stderr)
            );
            let flags = String::from_utf8_lossy(&pc.stdout).into_owned();
            cmd.args(flags.split_whitespace());
            cmd.arg(format!("-Wl,-rpath,{}", stage.join("lib").display()));
        }
    }
    cmd.arg("-o").arg(&out);
    let o = cmd.output().expect("run the C compiler");
    assert!(
        o.status.success(),
        "compiling {name} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Environment for sanitizer runs: leak detection on, every report fatal.
pub fn sanitizer_env(cmd: &mut Command) -> &mut Command {
    cmd.env(
        "ASAN_OPTIONS",
        "detect_leaks=1:abort_on_error=0:exitcode=86:halt_on_error=1",
    )
    .env(
        "UBSAN_OPTIONS",
        "print_stacktrace=1:halt_on_error=1:exitcode=87",
    )
    .env("LSAN_OPTIONS", "exitcode=88")
}

/// `valgrind` with leak checks that fail the run (exit 99) on any error or definite/indirect
/// leak, in front of `program`.
pub fn valgrind(program: &Path) -> Command {
    let mut c = Command::new("valgrind");
    c.args([
        "-q",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        "--show-leak-kinds=definite,indirect",
        "--track-origins=yes",
        "--child-silent-after-fork=yes",
    ])
    .arg(program);
    c
}

/// Asserts a finished run exited 0 and wrote no sanitizer or valgrind report.
pub fn assert_clean(what: &str, o: &Output) {
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    let reported = [
        "ERROR: AddressSanitizer",
        "ERROR: LeakSanitizer",
        "runtime error:",
        "==ERROR",
        "Invalid read",
        "Invalid write",
        "definitely lost",
        "indirectly lost",
    ]
    .iter()
    .any(|p| err.contains(p) || out.contains(p));
    assert!(
        o.status.success() && !reported,
        "{what}: exit {:?}\n--- stdout\n{out}\n--- stderr\n{err}",
        o.status.code()
    );
}
