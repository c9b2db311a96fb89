//! Path A: `ctr run --runtime io.containerd.spin.v2` on a real containerd, the app
//! from a root filesystem holding spin.toml (as a classic image's rootfs would).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use spin_kube_e2e::containerd::LocalContainerd;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over HTTP/1.1; the status code and body, or None while nothing listens.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

fn wait_for_200(port: u16, path: &str, within: Duration) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(answer) = get(port, path) {
            return answer;
        }
        assert!(Instant::now() < deadline, "nothing answered on port {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn app_rootfs(dir: &std::path::Path, wasm: Vec<u8>) {
    std::fs::write(
        dir.join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"hello\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("hello.wasm"), wasm).unwrap();
}

#[test]
fn ctr_runs_a_spin_app_drains_on_sigterm_and_shows_its_logs() {
    let containerd = LocalContainerd::start();
    let rootfs = tempfile::tempdir().unwrap();
    app_rootfs(rootfs.path(), test_guests::hello());
    let port = free_port();
    let listen = format!("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{port}");
    let root = rootfs.path().display().to_string();
    let run = containerd
        .ctr_command(&[
            "run",
            "--rm",
            "--runtime",
            "io.containerd.spin.v2",
            "--net-host",
            "--env",
            &listen,
            "--rootfs",
            &root,
            "hello-a",
            "/",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let (status, body) = wait_for_200(port, "/", Duration::from_secs(60));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Hello"), "{body}");

    let tasks = String::from_utf8(containerd.ctr(&["task", "ls"]).stdout).unwrap();
    assert!(
        tasks.contains("hello-a") && tasks.contains("RUNNING"),
        "{tasks}"
    );

    let kill = containerd.ctr(&["task", "kill", "-s", "SIGTERM", "hello-a"]);
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
    let out = run.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "graceful stop exits 0; logs:\n{logs}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        logs.contains(&format!("Serving http://127.0.0.1:{port}")),
        "{logs}"
    );
    assert!(
        get(port, "/").is_none(),
        "still answering after the task exited"
    );
}
