//! The C test suite of the API, crates/ffi/tests/c/ (main() in test_api.c, one file per
//! area, helpers in support.c): every function of include/sipwire.h exercised from C against
//! real runtimes on 127.0.0.1. Built and run four ways: linked statically and against the
//! shared library, each under ASan/UBSan with leak detection and (a plain build) under
//! valgrind with a full leak check.
//! Each fails on a failed check (non-zero exit), any sanitizer or valgrind report, or a run
//! that outlives its deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Check, Link};

/// The suite's sources, relative to the repository root (they include check.h, support.h and
/// tests.h beside them).
const SOURCES: [&str; 7] = [
    "crates/ffi/tests/c/test_api.c",
    "crates/ffi/tests/c/support.c",
    "crates/ffi/tests/c/test_config.c",
    "crates/ffi/tests/c/test_queue.c",
    "crates/ffi/tests/c/test_callbacks.c",
    "crates/ffi/tests/c/test_admin.c",
    "crates/ffi/tests/c/test_lifecycle.c",
];

/// How long one run may take before it is killed and the test fails. The suite takes well
/// under a second natively and a few seconds under valgrind; these leave room for a loaded
/// machine.
const SANITIZER_LIMIT: Duration = Duration::from_secs(180);
const VALGRIND_LIMIT: Duration = Duration::from_secs(600);

/// Builds the suite (each link/instrumentation pair has its own output path, so the tests can
/// build concurrently).
fn build(link: Link, check: Check) -> PathBuf {
    common::build("test_api", &SOURCES, link, check, &[])
}

/// Runs `cmd` to completion within `limit`, its output in files next to `exe` (no pipe to
/// fill while we wait); kills it and fails the test when it takes longer.
fn run(what: &str, exe: &Path, mut cmd: Command, limit: Duration) -> Output {
    let out_path = exe.with_extension("stdout");
    let err_path = exe.with_extension("stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create the stdout file"))
        .stderr(File::create(&err_path).expect("create the stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for the test program") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: still running after {limit:?}, killed\n--- stdout\n{}\n--- stderr\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let o = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    // Shown with --nocapture: which sections ran, and the totals.
    print!("{}", String::from_utf8_lossy(&o.stdout));
    eprint!("{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Asserts a clean run that also printed the suite's summary line with no failed check (so a
/// program that exits 0 early cannot pass).
fn assert_passed(what: &str, o: &Output) {
    common::assert_clean(what, o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("test_api: ") && l.ends_with(" checks, 0 failed")),
        "{what}: no passing summary line\n--- stdout\n{out}"
    );
}

#[test]
fn c_api_static_with_sanitizers() {
    let exe = build(Link::Static, Check::Sanitizers);
    let mut cmd = Command::new(&exe);
    common::sanitizer_env(&mut cmd);
    let o = run("static ASan/UBSan", &exe, cmd, SANITIZER_LIMIT);
    assert_passed("test_api (static, ASan/UBSan)", &o);
}

#[test]
fn c_api_shared_with_sanitizers() {
    let exe = build(Link::Shared, Check::Sanitizers);
    let mut cmd = Command::new(&exe);
    common::sanitizer_env(&mut cmd);
    let o = run("shared ASan/UBSan", &exe, cmd, SANITIZER_LIMIT);
    assert_passed("test_api (shared, ASan/UBSan)", &o);
}

/// Runs the plain build linked `link` under valgrind.
fn under_valgrind(link: Link, what: &str) {
    let have = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have,
        "valgrind is not installed: `make test-deps` installs it (apt-get install valgrind)"
    );
    let exe = build(link, Check::None);
    let mut cmd = common::valgrind(&exe);
    // Less traffic and longer deadlines: valgrind runs everything many times slower.
    cmd.arg("--valgrind");
    let o = run(what, &exe, cmd, VALGRIND_LIMIT);
    assert_passed(&format!("test_api ({what})"), &o);
}

#[test]
fn c_api_static_under_valgrind() {
    under_valgrind(Link::Static, "static, valgrind");
}

#[test]
fn c_api_shared_under_valgrind() {
    under_valgrind(Link::Shared, "shared, valgrind");
}
