//! Whatever the environment says about backtraces, a `wasmtime::Error` never captures
//! one. Wasmtime makes an error on every request whose store ran its async machinery
//! (disposing the store's parked fiber when the store is dropped); with backtraces
//! captured, `RUST_BACKTRACE=1` in a user's shell or a pod's env cost more than half the
//! throughput. The check runs in a child process started with `RUST_BACKTRACE=1`, since
//! the standard library reads the variable once per process.

use std::process::Command;

const CHILD: &str = "SPIN_TEST_ERROR_BACKTRACE_CHILD";

#[test]
fn wasmtime_errors_capture_no_backtrace_even_with_rust_backtrace_set() {
    if std::env::var_os(CHILD).is_some() {
        let error = wasmtime::Error::msg("future dropped");
        println!("error: {error:?}");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "wasmtime_errors_capture_no_backtrace_even_with_rust_backtrace_set",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("error: future dropped"), "{stdout}");
    assert!(
        !stdout.contains("Stack backtrace"),
        "a wasmtime::Error captured a backtrace (is Wasmtime's `backtrace` feature on?):\n{stdout}"
    );
}
