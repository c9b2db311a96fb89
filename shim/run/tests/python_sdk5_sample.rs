//! The current-SDK sample (`examples/hello-python-sdk5`: Python spin-sdk 5.0.0 with
//! componentize-py 0.25.1, a WASIp3 `wasi:http/handler@0.3.0` component importing WASI
//! 0.2, 0.3 and 0.3 release-candidate interfaces side by side) served by the real
//! `spin-run`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{Runner, built_sample, request, sample_copy, upstream};

fn sample() -> Option<PathBuf> {
    built_sample("hello-python-sdk5", "../build-python.sh 5.0.0 0.25.1")
}

/// The compile cache shared by these tests (and kept between runs).
fn cache_dir() -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-sdk5-compiled");
    dir.to_string_lossy().into_owned()
}

#[test]
fn current_python_sdk_app_serves_every_capability() {
    let Some(dir) = sample() else { return };
    serves_every_capability(&dir, "SDK 5");
}

/// The same sample on Spin 4.0's SDK (`examples/hello-python-sdk4`: spin-sdk 4.0.0 with
/// componentize-py 0.23), which imports every WASI interface and exports its handler
/// only at the release candidate (`wasi:http/handler@0.3.0-rc-2026-03-15`).
#[test]
fn spin_4_0_python_sdk_app_serves_every_capability() {
    let Some(dir) = built_sample(
        "hello-python-sdk4",
        "../build-python.sh 4.0.0 0.23.0 spin:up/http-trigger@4.0.0",
    ) else {
        return;
    };
    serves_every_capability(&dir, "SDK 4.0");
}

/// Variables, both key-value interfaces, files, allowed and refused outbound HTTP,
/// and state kept across a restart; `sdk` is what the greeting names.
fn serves_every_capability(dir: &Path, sdk: &str) {
    let app = sample_copy(dir);
    let up = upstream("pong from upstream");
    let upstream_url = format!("http://{up}/ping");
    let cache = cache_dir();
    let args = ["--cache-dir", cache.as_str()];
    let run = Runner::start(
        app.path(),
        &args,
        &[("SPIN_VARIABLE_UPSTREAM", upstream_url.as_str())],
    )
    .unwrap();

    let r = run.get("/");
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            format!("Hello from Spin on Kubernetes, in Python ({sdk})!\n").as_str()
        ),
        "{}",
        run.log()
    );
    // spin:key-value@3.0.0 and wasi:keyvalue reach the same store.
    assert_eq!(run.get("/count").body, "visits=1\n");
    assert_eq!(run.get("/count").body, "visits=2\n");
    assert_eq!(run.get("/wasi-count").body, "wasi-visits=1\n");
    assert_eq!(run.get("/wasi-count").body, "wasi-visits=2\n");
    assert_eq!(
        run.get("/file").body,
        std::fs::read_to_string(dir.join("static/hello.txt")).unwrap()
    );
    let r = run.get("/outbound");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "upstream said: pong from upstream"),
        "{}",
        run.log()
    );
    let r = run.get("/forbidden");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("HttpRequestDenied"), "{}", r.body);
    let log = run.wait_for_log("outbound request denied");
    assert!(
        log.contains("add \"http://example.com\" to allowed_outbound_hosts"),
        "{log}"
    );
    drop(run);

    let run = Runner::start(app.path(), &args, &[("SPIN_VARIABLE_GREETING", "Howdy")]).unwrap();
    assert_eq!(
        run.get("/").body,
        format!("Howdy from Spin on Kubernetes, in Python ({sdk})!\n"),
        "{}",
        run.log()
    );
    assert_eq!(
        run.get("/count").body,
        "visits=3\n",
        "key-value data survives a restart"
    );
    assert_eq!(run.get("/wasi-count").body, "wasi-visits=3\n");
}

/// The sample as a `spinImage` executor's pod runs it: pushed with `spin kube push`,
/// pulled by `spin-run` from a real registry, its key-value store placed by a runtime
/// config file.
#[test]
fn current_python_sdk_app_runs_from_a_registry_with_a_runtime_config_file() {
    let Some(dir) = sample() else { return };
    let app = sample_copy(&dir);
    let registry = spin_kube_e2e::registry::LocalRegistry::start();
    let image = registry.push_app(app.path(), "hello-python-sdk5:v1");
    let work = tempfile::tempdir().unwrap();
    let runtime_config = work.path().join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        "[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n",
    )
    .unwrap();
    let (cache, blobs) = (cache_dir(), work.path().join("registry"));
    let args = [
        "--cache-dir",
        cache.as_str(),
        "--registry-cache",
        blobs.to_str().unwrap(),
        "--runtime-config-file",
        runtime_config.to_str().unwrap(),
    ];
    let run = Runner::start(
        Path::new(&image),
        &args,
        &[("DOCKER_CONFIG", "/nonexistent")],
    )
    .unwrap_or_else(|e| panic!("spin-run did not start: {e}"));
    let r = run.get("/");
    assert_eq!(r.status, 200, "{}", run.log());
    // The static file came as a data layer, checked against its digest.
    assert_eq!(
        run.get("/file").body,
        std::fs::read_to_string(dir.join("static/hello.txt")).unwrap()
    );
    assert_eq!(run.get("/count").body, "visits=1\n");
    assert_eq!(run.get("/count").body, "visits=2\n");
    assert!(work.path().join("data/kv.db").is_file());
}

#[test]
fn a_trap_a_timeout_and_the_memory_cap_stay_with_their_request() {
    let Some(dir) = sample() else { return };
    let app = sample_copy(&dir);
    let cache = cache_dir();
    let run = Runner::start(
        app.path(),
        &["--cache-dir", &cache, "--max-instance-memory", "64"],
        &[("SPIN_REQUEST_TIMEOUT_SECS", "2")],
    )
    .unwrap();

    let r = run.get("/spin");
    assert_eq!(r.status, 500);
    run.wait_for_log("request timed out after 2s");
    let r = run.get("/exit");
    assert_eq!(r.status, 500);
    run.wait_for_log("guest failed");
    assert_eq!(run.get("/").status, 200, "{}", run.log());

    // 90 MB streams through an instance capped at 64 MiB, in both directions at
    // once: the body is never held whole, by the host or the guest.
    let (status, received, matches) = echo(run.addr, 90_000_000);
    assert_eq!(
        (status, received, matches),
        (200, 90_000_000, true),
        "{}",
        run.log()
    );
}

#[test]
fn instances_are_fresh_per_request_unless_reuse_is_asked_for() {
    let Some(dir) = sample() else { return };
    let app = sample_copy(&dir);
    let cache = cache_dir();
    let run = Runner::start(app.path(), &["--cache-dir", &cache], &[]).unwrap();
    for _ in 0..3 {
        assert_eq!(run.get("/instance-requests").body, "1\n");
    }
    drop(run);

    let run = Runner::start(
        app.path(),
        &["--cache-dir", &cache, "--max-instance-reuse-count", "3"],
        &[("SPIN_HTTP_IDLE_INSTANCE_TIMEOUT_SECS", "30")],
    )
    .unwrap();
    let served: Vec<String> = (0..4).map(|_| run.get("/instance-requests").body).collect();
    assert_eq!(served, ["1\n", "2\n", "3\n", "1\n"], "{}", run.log());
    drop(run);

    // Instances that serve several requests at once are still alive when the app
    // stops: dropping them is the app stopping, not a guest failing.
    let mut run = Runner::start(
        app.path(),
        &[
            "--cache-dir",
            &cache,
            "--max-instance-reuse-count",
            "128",
            "--max-instance-concurrent-reuse-count",
            "8",
        ],
        &[("RUST_LOG", "spin_runtime=debug")],
    )
    .unwrap();
    let addr = run.addr;
    let clients: Vec<_> = (0..16)
        .map(|_| std::thread::spawn(move || request(addr, "GET", "/", &[], b"").status))
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), 200, "{}", run.log());
    }
    assert!(run.stop().is_some_and(|s| s.success()), "{}", run.log());
    let log = run.log();
    assert!(!log.contains("guest failed"), "{log}");
}

/// POSTs `len` bytes to `/echo` while reading the answer: status, bytes received, and
/// whether they are the bytes sent.
fn echo(addr: SocketAddr, len: usize) -> (u16, usize, bool) {
    let byte = |i: usize| b"0123456789abcdef"[i % 16];
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let head = format!(
            "POST /echo HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {len}\r\n\r\n"
        );
        writer.write_all(head.as_bytes())?;
        let chunk: Vec<u8> = (0..1 << 16).map(byte).collect();
        let mut sent = 0;
        while sent < len {
            let n = chunk.len().min(len - sent);
            writer.write_all(&chunk[..n])?;
            sent += n;
        }
        std::io::Result::Ok(())
    });
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap();
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        chunked |= line
            .to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked");
    }
    let (mut received, mut matches) = (0usize, true);
    let mut check = |data: &[u8]| {
        for b in data {
            matches &= *b == byte(received);
            received += 1;
        }
    };
    let mut buf = vec![0; 1 << 16];
    if chunked {
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut left = size;
            while left > 0 {
                let n = reader.read(&mut buf[..left.min(1 << 16)]).unwrap();
                assert!(n > 0, "connection closed mid-chunk");
                check(&buf[..n]);
                left -= n;
            }
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf).unwrap();
        }
    } else {
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            check(&buf[..n]);
        }
    }
    let _ = sender.join();
    (status, received, matches)
}
