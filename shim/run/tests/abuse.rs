//! Hostile clients and guests against the real `spin-run`: huge bodies, header bombs,
//! idle connections, a guest printing a 100 MiB line, a log flood (while nobody reads
//! the log, and past the log rate), and an app shipping more files than allowed. Each
//! must cost bounded memory and disk and leave normal requests served.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use spin_kube_e2e::abuse;
use support::{Runner, TestApp, manifest};
use test_guests::{Probe, inbound, probe};

const HOST: &str = "127.0.0.1";

fn app(wasm: Vec<u8>) -> TestApp {
    TestApp::new(
        &manifest("abuse", &[("/...", "probe", "probe.wasm", "")]),
        &[("probe.wasm", wasm)],
    )
}

#[test]
fn oversized_bodies_get_413_and_memory_stays_bounded() {
    let app = TestApp::new(
        &manifest(
            "bodies",
            &[
                ("/...", "probe", "probe.wasm", ""),
                ("/inbound/...", "inbound", "inbound.wasm", ""),
            ],
        ),
        &[
            ("probe.wasm", probe("probe", Probe::Echo)),
            ("inbound.wasm", inbound(false)),
        ],
    );
    let run = app.start(&["--max-request-body", "16Mi"], &[]);
    assert_eq!(run.get("/").status, 200);
    let before = run.rss_kib();

    // A declared 2 GiB body is refused before the guest runs.
    assert_eq!(abuse::declared_2_gib_post(HOST, run.addr.port()), 413);

    // A chunked body to a world that takes the body whole is cut at the limit.
    let chunked = b"POST /inbound/x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut s = TcpStream::connect(run.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(chunked).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..64 {
        if write!(s, "{:x}\r\n", chunk.len()).is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );

    let after = run.rss_kib();
    eprintln!("RSS before {before} KiB, after the big bodies {after} KiB");
    assert!(
        after < before + 48 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    assert_eq!(run.get("/").status, 200, "still serving");
}

#[test]
fn header_bombs_are_refused() {
    let app = app(probe("probe", Probe::Echo));
    let run = app.start(&[], &[]);
    for status in abuse::header_bombs(HOST, run.addr.port()) {
        assert!(status == 431 || status == 0, "{status}");
    }
    assert_eq!(run.get("/").status, 200, "still serving");
}

#[test]
fn idle_connections_do_not_starve_normal_traffic() {
    let app = app(probe("probe", Probe::Hello));
    let run = app.start(&["--header-read-timeout", "2"], &[]);
    // 1,000 clients that connect and send nothing, or half a request line.
    let idle = abuse::idle_connections(HOST, run.addr.port(), 1000);
    let latencies = abuse::sorted_latencies(HOST, run.addr.port(), 200);
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!("with 1000 idle connections: p50 {p50:?}, p99 {p99:?} over 200 requests");
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");

    // The idle ones are closed once the header read timeout passes.
    let deadline = Instant::now() + Duration::from_secs(20);
    for mut s in idle {
        s.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf);
        assert!(
            n.is_ok() || matches!(&n, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "an idle connection was not closed: {n:?}"
        );
    }
}

#[test]
fn a_100_mib_log_line_is_cut_and_costs_bounded_memory() {
    let app = app(probe("probe", Probe::HugeLogLine));
    let run = app.start(&[], &[]);
    let before = run.rss_kib();
    let r = run.get("/");
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, world!\n"));
    let after = run.rss_kib();
    eprintln!("RSS before {before} KiB, after a 100 MiB guest line {after} KiB");
    assert!(
        after < before + 48 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    let log = run.wait_for_log("[line cut at 16384 bytes]");
    assert!(
        log.contains("[line cut at 16384 bytes]"),
        "{}",
        &log[log.len().saturating_sub(2000)..]
    );
}

#[test]
fn a_log_flood_with_nobody_reading_the_log_never_stalls_requests() {
    let app = app(probe("probe", Probe::LogFlood));
    let (run, mut log_pipe) = Runner::start_with_log_pipe(app.path(), &[]);
    // Nobody reads the pipe: it fills after 64 KiB, and the runner's log writer stops.
    let started = Instant::now();
    for _ in 0..40 {
        let r = run.get("/");
        assert_eq!(r.status, 200);
    }
    let elapsed = started.elapsed();
    eprintln!("40 requests each logging 4 MiB, log unread: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    // Now read: the dropped lines are reported.
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = log_pipe.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tail = String::new();
    while Instant::now() < deadline && !tail.contains("log lines dropped") {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            tail.push_str(&String::from_utf8_lossy(&chunk));
            let keep = tail.len().saturating_sub(1 << 16);
            tail = tail[tail.ceil_char_boundary(keep)..].to_string();
        } else {
            let _ = run.get("/");
        }
    }
    assert!(
        tail.contains("log lines dropped"),
        "{}",
        &tail[tail.len().saturating_sub(2000)..]
    );
}

#[test]
fn a_log_flood_is_cut_to_the_log_rate_and_the_cut_is_reported() {
    let app = app(probe("probe", Probe::LogFlood));
    let run = app.start(&["--max-log-bytes-per-second", "64Ki"], &[]);
    let before = run.log().len();
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(run.get("/").status, 200);
    }
    let log = run.wait_for_log("the app logs more than 65536 bytes per second");
    let elapsed = started.elapsed();
    // Five requests logged 20 MiB; the log got at most a second's worth more than the
    // rate allows for the time taken (and the report lines).
    let written = (log.len() - before) as f64;
    let allowed = 65536.0 * (elapsed.as_secs_f64() + 1.0) + 64.0 * 1024.0;
    eprintln!("20 MiB logged in {elapsed:?}; {written} bytes reached the log");
    assert!(written <= allowed, "{written} bytes in {elapsed:?}");
    assert!(
        log.contains("(SPIN_LOG_MAX_BYTES_PER_SECOND)"),
        "{}",
        &log[log.len().saturating_sub(2000)..]
    );
}

#[test]
fn an_app_with_more_files_than_allowed_is_refused_naming_the_setting() {
    let app = TestApp::new(
        &manifest(
            "files",
            &[(
                "/...",
                "probe",
                "probe.wasm",
                "files = [{ source = \"assets\", destination = \"/\" }]",
            )],
        ),
        &[("probe.wasm", probe("probe", Probe::Echo))],
    );
    std::fs::create_dir_all(app.path().join("assets/big")).unwrap();
    for i in 0..3 {
        std::fs::write(
            app.path().join(format!("assets/big/{i}.bin")),
            vec![0u8; 512 << 10],
        )
        .unwrap();
    }
    let log = support::start_error(app.path(), &["--max-files-bytes", "1Mi"], &[]);
    assert!(
        log.contains("the app's files come to more than SPIN_FILES_MAX_BYTES (1048576 bytes"),
        "{log}"
    );
    // Within the bound, the same app serves.
    let run = app.start(&["--max-files-bytes", "2Mi"], &[]);
    assert_eq!(run.get("/").status, 200);
}
