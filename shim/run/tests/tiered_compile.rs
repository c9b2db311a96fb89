//! First starts: baseline (Winch) code serves while Cranelift compiles in a child
//! process, then the optimized code replaces it and is what the cache gives the next
//! start; the compile child reports what does not compile.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Runner, TestApp, built_sample, manifest};
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

/// Processes whose parent is `parent` and whose command line contains `arg`.
fn children_with_arg(parent: u32, arg: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After the parenthesised command name: the state, then the parent's pid.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains(arg)
        })
        .collect()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_killed_server_leaves_no_compile_running() {
    // The Python sample: Cranelift takes seconds on it, so the compile is still running
    // when the server is killed.
    let Some(dir) = built_sample("hello-python", "../build-python.sh") else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let run = Runner::start(&dir, &["--cache-dir", cache.path().to_str().unwrap()], &[]).unwrap();
    assert_eq!(run.get("/").status, 200, "{}", run.log());
    let server = run.pid();
    let mut compiles = Vec::new();
    wait_until(
        "the optimizing compile child starts",
        Duration::from_secs(10),
        || {
            compiles = children_with_arg(server, "__spin-compile-component");
            !compiles.is_empty()
        },
    );
    drop(run); // SIGKILL, as a deleted pod's processes get.
    wait_until(
        "the compile child ends with its server",
        Duration::from_secs(1),
        || {
            compiles.iter().all(|pid| {
                // Gone, or a zombie left for whichever process adopted it to reap.
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let state = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next());
                matches!(state, None | Some("Z"))
            })
        },
    );
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
