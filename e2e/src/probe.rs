//! Plain HTTP/1.1 probes for end-to-end tests: no client library between the test and
//! what answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on `host:port`: the status code and body, or None while nothing answers.
pub fn get(host: &str, port: u16, path: &str) -> Option<(u16, String)> {
    request(host, port, "GET", path, "")
}

/// `METHOD path` with `body` on `host:port`: the status code and body, or None while
/// nothing answers.
pub fn request(
    host: &str,
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect((host, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Polls until something answers on `host:port` (panics after `within`).
pub fn wait_for_answer(host: &str, port: u16, path: &str, within: Duration) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(answer) = get(host, port, path) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "nothing answered on {host}:{port}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A Spin app directory: spin.toml routing everything to one component, `hello.wasm`.
pub fn write_app(dir: &std::path::Path, wasm: &[u8]) {
    std::fs::write(
        dir.join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"hello\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("hello.wasm"), wasm).unwrap();
}

/// Sends `head` and then up to `body_bytes` of body on a new connection; returns the
/// status code of the answer, or 0 when the server closed without one.
pub fn send_raw(host: &str, port: u16, head: &[u8], body_bytes: usize) -> u16 {
    let Ok(mut s) = TcpStream::connect((host, port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    if s.write_all(head).is_err() {
        return 0;
    }
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0;
    while sent < body_bytes && s.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Resident memory of a process, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The pids of running `containerd-shim-spin-v2` processes.
pub fn shim_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path().join("exe"))
                .is_ok_and(|exe| exe.to_string_lossy().ends_with("containerd-shim-spin-v2"))
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}
