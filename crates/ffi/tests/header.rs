//! The committed header documents every function: what it does and which threads may call it
//! (the rule for `include/sipwire.h`). `make check-header` separately proves the header
//! is what cbindgen generates from the sources.

use std::path::Path;

#[test]
fn every_function_says_which_threads_may_call_it() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include/sipwire.h");
    let header = std::fs::read_to_string(&path).expect("read include/sipwire.h");
    let body = &header[header.find("extern \"C\" {").expect("extern C block")..];
    let mut functions = 0;
    let mut missing = Vec::new();
    for block in body.split("\n\n") {
        let comment: Vec<&str> = block.lines().filter(|l| l.starts_with("//")).collect();
        let Some(decl) = block
            .lines()
            .find(|l| !l.starts_with("//") && l.contains("sipwire_") && l.contains('('))
        else {
            continue;
        };
        let name = decl
            .split('(')
            .next()
            .and_then(|s| s.split_whitespace().last())
            .map(|s| s.trim_start_matches('*'))
            .unwrap_or(decl)
            .to_string();
        functions += 1;
        let text = comment.join(" ");
        let says_what = comment.len() >= 2;
        let says_thread =
            text.contains("hread") || text.contains("Callable only") || text.contains("Any thread");
        if !(says_what && says_thread) {
            missing.push(name);
        }
    }
    assert!(
        functions >= 50,
        "found only {functions} functions in the header"
    );
    assert!(
        missing.is_empty(),
        "functions without a what/thread comment: {missing:?}"
    );
}
