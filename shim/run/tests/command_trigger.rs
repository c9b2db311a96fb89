//! The command trigger end to end: the real `spin-run` runs a `wasi:cli/run` component
//! made from WAT once and exits with its status.

mod support;

use std::process::Command;

use support::TestApp;
use test_guests::{CommandEnd, command};

const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "job"
[[trigger.command]]
component = "job"
[component.job]
source = "job.wasm"
"#;

/// Runs the app to its end: exit status and log.
fn run(end: CommandEnd) -> (Option<i32>, String) {
    let app = TestApp::new(MANIFEST, &[("job.wasm", command(end))]);
    let out = Command::new(env!("CARGO_BIN_EXE_spin-run"))
        .arg("--from")
        .arg(app.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("SPIN_CACHE_DIR", app.path().join("compiled"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_command_app_exits_with_its_commands_status() {
    let (status, log) = run(CommandEnd::Ok);
    assert_eq!(status, Some(0), "{log}");
    assert!(log.contains("command finished"), "{log}");

    let (status, log) = run(CommandEnd::Err);
    assert_eq!(status, Some(1), "{log}");

    let (status, log) = run(CommandEnd::Trap);
    assert_eq!(status, Some(1), "{log}");
    assert!(log.contains("guest failed"), "{log}");
}
