//! The Redis trigger end to end: `examples/redis-python` (spin-sdk 3.4.1's `spin-all`
//! world: a Redis handler and an HTTP handler in one Wasm, two components) and
//! `examples/redis-python-sdk5` and `-sdk4` (spin-sdk 5's and 4.0's WASIp3
//! `spin:redis/inbound-redis@3.0.0`, no HTTP) served by the real `spin-run` against a real `redis-server` on a free
//! loopback port.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use spin_kube_e2e::redis::RedisServer;
use support::{Runner, built_sample, request};

const SUBSCRIBED: &str = "Redis trigger subscribed";

fn start(app: &Path, address: &str, env: &[(&str, &str)]) -> Runner {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("redis-trigger-compiled");
    let mut env = env.to_vec();
    env.push(("SPIN_VARIABLE_REDIS_ADDRESS", address));
    Runner::start(app, &["--cache-dir", cache.to_str().unwrap()], &env)
        .unwrap_or_else(|log| panic!("spin-run did not start:\n{log}"))
}

fn publish(server: &RedisServer, message: &str) {
    let out = Command::new("redis-cli")
        .args([
            "-p",
            &server.port.to_string(),
            "publish",
            "messages",
            message,
        ])
        .output()
        .expect("redis-cli (Debian's redis-tools) runs");
    assert!(out.status.success(), "{out:?}");
}

/// Waits (up to 10 s) until the app's `/received` list holds `expected`, in any order
/// (messages are handled concurrently).
fn wait_for_received(run: &Runner, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = run.get("/received").body;
        let mut got: Vec<&str> = body.lines().collect();
        got.sort();
        let mut want = expected.to_vec();
        want.sort();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "received {got:?}, expected {want:?}\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn messages_run_the_component_and_the_subscription_survives_a_server_restart() {
    let Some(app) = built_sample("redis-python", "../build-python.sh 3.4.1 0.16.0 spin-all") else {
        return;
    };
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let run = start(
        &app,
        &server.address(),
        &[("SPIN_HTTP_MAX_REQUEST_BODY", "1000")],
    );
    run.wait_for_log(SUBSCRIBED);

    // Published from outside, and from the app's own HTTP side (outbound publish).
    publish(&server, "hello");
    let r = request(run.addr, "POST", "/publish", &[], b"from http");
    assert_eq!((r.status, r.body.as_str()), (200, "published\n"));
    wait_for_received(&run, &["hello", "from http"]);

    // A trigger component's outbound connection obeys allowed_outbound_hosts.
    publish(&server, "deny:me");
    wait_for_received(
        &run,
        &["hello", "from http", "denied: Error_InvalidAddress()"],
    );
    let log = run.wait_for_log("outbound request denied");
    assert!(
        log.contains(
            "add \"redis://example.com:6379\" to allowed_outbound_hosts of component `listener`"
        ),
        "{log}"
    );

    // A failing handler and an oversized message cost only themselves.
    publish(&server, "fail");
    let log = run.wait_for_log("failed to handle a Redis message");
    assert!(log.contains("component=\"listener\""), "{log}");
    publish(&server, &"x".repeat(2000));
    let log = run.wait_for_log("message of 2000 bytes skipped");
    assert!(log.contains("SPIN_HTTP_MAX_REQUEST_BODY"), "{log}");

    // The server restarts (empty): the trigger reconnects and subscribes again.
    server.restart();
    let log = run.wait_for_log_count(SUBSCRIBED, 2);
    assert!(log.contains("Redis trigger connection lost"), "{log}");
    assert_eq!(log.matches(SUBSCRIBED).count(), 2, "{log}");
    publish(&server, "after restart");
    wait_for_received(&run, &["after restart"]);

    // A burst larger than the instance pool can hold at once (each componentize-py
    // instance is many core instances) waits for instances; none is dropped.
    let burst: String = (0..400)
        .map(|i| format!("PUBLISH messages b{i}\n"))
        .collect();
    let mut cli = Command::new("redis-cli")
        .args(["-p", &server.port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    cli.stdin
        .take()
        .unwrap()
        .write_all(burst.as_bytes())
        .unwrap();
    assert!(cli.wait().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while run.get("/received").body.lines().count() < 401 {
        assert!(Instant::now() < deadline, "{}", run.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!run.log().contains("event dropped"), "{}", run.log());
}

#[test]
fn refused_credentials_stop_the_app_with_the_reason() {
    let Some(app) = built_sample("redis-python", "../build-python.sh 3.4.1 0.16.0 spin-all") else {
        return;
    };
    let Some(server) = RedisServer::start_with_password("right-one") else {
        return;
    };
    let address = format!("redis://:wrong-one@127.0.0.1:{}", server.port);
    let mut run = start(&app, &address, &[]);
    let status = run.wait_exit().expect("spin-run exits");
    assert_eq!(status.code(), Some(1), "{}", run.log());
    let log = run.log();
    let server_shown = format!("Redis trigger on redis://127.0.0.1:{}", server.port);
    assert!(log.contains(&server_shown), "{log}");
    assert!(
        log.contains("the server answered AUTH with an error: WRONGPASS"),
        "{log}"
    );
    assert!(!log.contains("wrong-one"), "{log}");
}

/// Waits (up to 10 s) until `list` on the server holds `expected`, in any order.
fn wait_for_list(server: &RedisServer, list: &str, expected: &[&str], run: &Runner) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("redis-cli")
            .args(["-p", &server.port.to_string(), "lrange", list, "0", "-1"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut got: Vec<&str> = text.lines().collect();
        got.sort();
        let mut want = expected.to_vec();
        want.sort();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{got:?}\n{}", run.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_current_sdks_async_redis_handler_runs_without_http() {
    async_redis_handler_runs_without_http(
        "redis-python-sdk5",
        "../build-python.sh 5.0.0 0.25.1 spin:up/redis-trigger@4.1.0",
        "received-sdk5",
    );
}

/// Spin 4.0's SDK (spin-sdk 4.0.0): the same handler, its WASI imports at the release
/// candidate only.
#[test]
fn the_spin_4_0_sdks_async_redis_handler_runs_without_http() {
    async_redis_handler_runs_without_http(
        "redis-python-sdk4",
        "../build-python.sh 4.0.0 0.23.0 spin:up/redis-trigger@4.0.0",
        "received-sdk4",
    );
}

/// The sample `name` handles each message on `messages` by appending it to `list`.
fn async_redis_handler_runs_without_http(name: &str, build: &str, list: &str) {
    let Some(app) = built_sample(name, build) else {
        return;
    };
    let Some(server) = RedisServer::start() else {
        return;
    };
    let run = start(&app, &server.address(), &[]);
    assert_eq!(
        run.addr.port(),
        0,
        "no HTTP port for an app without HTTP routes"
    );
    run.wait_for_log(SUBSCRIBED);
    publish(&server, "one");
    publish(&server, "fail");
    publish(&server, "two");
    wait_for_list(&server, list, &["one", "two"], &run);
    let log = run.wait_for_log("failed to handle a Redis message");
    assert!(log.contains("asked to fail"), "{log}");
}
