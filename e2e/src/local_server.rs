//! Starting a server from Debian's packages (`redis-server`, `mosquitto`) on a free
//! loopback port for a test.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `program` runs; without it the test is skipped, which CI refuses.
pub fn installed(program: &str, arg: &str, package: &str) -> bool {
    if Command::new(program).arg(arg).output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{program} is missing; e2e/setup.sh installs it (apt-get install {package})"
    );
    eprintln!("SKIPPED: {program} is not installed (apt-get install {package})");
    false
}

/// Spawns `command(port)` on a port that was free on `ip`, and waits until it accepts
/// connections there; another process taking the port first is retried with a new one.
pub fn start_on_free_port(what: &str, ip: &str, command: impl Fn(u16) -> Command) -> (Child, u16) {
    for _ in 0..5 {
        let port = TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if let Some(child) = start_on_port(what, ip, port, &command) {
            return (child, port);
        }
    }
    panic!("{what} did not start");
}

/// Spawns `command(port)` and waits until it accepts connections on `ip:port`; `None`
/// when it exits or does not listen within 10 s.
pub fn start_on_port(
    what: &str,
    ip: &str,
    port: u16,
    command: impl Fn(u16) -> Command,
) -> Option<Child> {
    let mut child = command(port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if TcpStream::connect((ip, port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
