//! First starts: baseline (Winch) code serves while Cranelift compiles in a child
//! process, then the optimized code replaces it and is what the cache gives the next
//! start; the compile child reports what does not compile.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::{TestApp, manifest};
use test_guests::{Probe, probe};

fn lines_with<'a>(log: &'a str, needles: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .collect()
}

#[test]
fn a_new_component_serves_baseline_code_until_optimized_code_replaces_it() {
    let app = TestApp::new(
        &manifest("tiers", &[("/...", "echo", "echo.wasm", "")]),
        &[("echo.wasm", probe("echo", Probe::Echo))],
    );
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();

    let run = app.start(&["--cache-dir", cache_arg], &[]);
    assert_eq!(run.get("/").status, 200, "{}", run.log());
    let log = run.wait_for_log("optimized code now serves");
    assert_eq!(
        lines_with(
            &log,
            &[": compiled component", "\"baseline\"", "\"in process\""]
        )
        .len(),
        1,
        "{log}"
    );
    assert_eq!(
        lines_with(
            &log,
            &[": compiled component", "\"optimized\"", "\"child process\""]
        )
        .len(),
        1,
        "{log}"
    );
    for _ in 0..3 {
        assert_eq!(run.get("/").status, 200, "{}", run.log());
    }
    drop(run);

    // The next start finds the optimized code in the cache and compiles nothing.
    let run = app.start(&["--cache-dir", cache_arg], &[]);
    let log = run.log();
    assert_eq!(
        lines_with(
            &log,
            &["loaded precompiled component from cache", "\"optimized\""]
        )
        .len(),
        1,
        "{log}"
    );
    assert!(!log.contains(": compiled component"), "{log}");
    assert_eq!(run.get("/").status, 200, "{log}");
}

#[test]
fn a_compile_child_reports_a_wasm_that_does_not_compile_and_refuses_bad_arguments() {
    let child = |args: &[&str], input: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spin-run"))
            .arg("__spin-compile-component")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            out.stdout.len(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, written, stderr) = child(&["c", "optimized", "10", "1048576"], b"\0asm garbage");
    assert_eq!((status, written), (Some(3), 0), "{stderr}");
    assert!(!stderr.is_empty());

    let (status, _, stderr) = child(&["c", "turbo", "10", "1048576"], b"");
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("usage"), "{stderr}");

    // What it compiles is a component the server can load (checked by the server).
    let (status, written, stderr) = child(
        &["c", "baseline", "10", "1048576"],
        &probe("echo", Probe::Echo),
    );
    assert_eq!(status, Some(0), "{stderr}");
    assert!(written > 0);
}
