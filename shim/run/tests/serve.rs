//! The HTTP trigger end to end: the real `spin-run` binary serving components made from
//! WAT, exercised over HTTP.

mod support;

use std::time::Duration;

use support::{TestApp, manifest, request, request_timed, start_error, upstream};
use test_guests::{Probe, inbound, not_http, probe};

fn routing_app() -> TestApp {
    TestApp::new(
        r#"
spin_manifest_version = 2
[application]
name = "routing"
[variables]
greeting = { default = "hello" }
[[trigger.http]]
route = "/"
component = "root"
[[trigger.http]]
route = "/api/..."
component = "api"
[[trigger.http]]
route = "/api/users/:id"
component = "user"
[[trigger.http]]
route = "/spin/..."
component = "spin-world"
[[trigger.http]]
route = { private = true }
component = "hidden"
[component.root]
source = "root.wasm"
[component.api]
source = "api.wasm"
variables = { message = "{{ greeting }} world" }
[component.user]
source = "user.wasm"
[component.spin-world]
source = "inbound.wasm"
[component.hidden]
source = "root.wasm"
"#,
        &[
            ("root.wasm", probe("root", Probe::Echo)),
            ("api.wasm", probe("api", Probe::Echo)),
            ("user.wasm", probe("user", Probe::Echo)),
            ("inbound.wasm", inbound(false)),
        ],
    )
}

#[test]
fn routes_to_the_most_specific_component_with_spin_headers() {
    let app = routing_app();
    let run = app.start(&[], &[]);

    let r = run.get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("root\n"), "{}", r.body);
    assert!(r.body.contains("spin-matched-route: /\n"), "{}", r.body);

    let r = run.get("/api/things/7?q=1");
    assert!(r.body.starts_with("api\n"), "{}", r.body);
    assert!(r.body.contains("spin-path-info: /things/7\n"), "{}", r.body);
    assert!(
        r.body.contains("spin-matched-route: /api/...\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("spin-component-route: /api\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!(
            "spin-full-url: http://{}/api/things/7?q=1\n",
            run.addr
        )),
        "{}",
        r.body
    );

    let r = run.get("/api/users/42");
    assert!(r.body.starts_with("user\n"), "{}", r.body);
    assert!(r.body.contains("spin-path-match-id: 42\n"), "{}", r.body);

    assert_eq!(run.get("/nothing/here").status, 404);
    assert_eq!(run.get("/.well-known/spin/health").status, 200);
}

#[test]
fn variables_come_from_defaults_and_spin_variable_env() {
    let app = routing_app();
    let run = app.start(&[], &[]);
    assert!(
        run.get("/api/x")
            .body
            .contains("variable message: hello world\n")
    );
    drop(run);
    let run = app.start(&[], &[("SPIN_VARIABLE_GREETING", "howdy")]);
    assert!(
        run.get("/api/x")
            .body
            .contains("variable message: howdy world\n")
    );
}

#[test]
fn serves_the_spin_inbound_http_world() {
    let app = routing_app();
    let run = app.start(&[], &[]);
    let r = run.get("/spin/hello?x=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "inbound-http says: /spin/hello?x=1");
    assert_eq!(r.header("x-world"), Some("inbound-http"));
    let r = request(run.addr, "POST", "/spin/post", &[], b"payload");
    assert_eq!(r.status, 200);
}

#[test]
fn components_to_retain_keeps_only_those() {
    let app = routing_app();
    let run = app.start(&[], &[("SPIN_COMPONENTS_TO_RETAIN", "api")]);
    assert_eq!(run.get("/api/x").status, 200);
    assert_eq!(run.get("/").status, 404);
    assert_eq!(run.get("/spin/x").status, 404);
    let log = start_error(
        app.path(),
        &[],
        &[("SPIN_COMPONENTS_TO_RETAIN", "api,nope")],
    );
    assert!(
        log.contains("SPIN_COMPONENTS_TO_RETAIN names `nope`"),
        "{log}"
    );
}

/// An app whose component counts requests in the `default` key-value store.
fn counter_app() -> TestApp {
    TestApp::new(
        &manifest(
            "kv",
            &[(
                "/...",
                "counter",
                "kv.wasm",
                "key_value_stores = [\"default\"]",
            )],
        ),
        &[("kv.wasm", probe("counter", Probe::KeyValue))],
    )
}

#[test]
fn key_value_persists_across_requests_and_restarts() {
    let app = counter_app();
    let run = app.start(&[], &[]);
    assert_eq!(run.get("/").body, "x");
    assert_eq!(run.get("/").body, "xx");
    drop(run);
    let run = app.start(&[], &[]);
    assert_eq!(run.get("/").body, "xxx");
    assert!(app.path().join(".spin/sqlite_key_value.db").is_file());
}

#[test]
fn a_runtime_config_file_places_key_value_stores() {
    let app = counter_app();
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("runtime-config.toml");
    let flag = |text: &str| {
        std::fs::write(&config, text).unwrap();
        vec![
            "--runtime-config-file".to_string(),
            config.display().to_string(),
        ]
    };
    let args = flag("[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = app.start(&args, &[]);
    assert_eq!(run.get("/").body, "x");
    drop(run);
    let run = app.start(&args, &[]);
    assert_eq!(run.get("/").body, "xx");
    drop(run);
    // Relative to the runtime config file, as `spin up` resolves it.
    assert!(config_dir.path().join("data/kv.db").is_file());
    assert!(!app.path().join(".spin/sqlite_key_value.db").exists());

    // Without a path the store is in memory: a restart starts it empty.
    let args = flag("[key_value_store.default]\ntype = \"spin\"\n");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = app.start(&args, &[]);
    assert_eq!(run.get("/").body, "x");
    drop(run);
    assert_eq!(app.start(&args, &[]).get("/").body, "x");

    let args = flag("[key_value_store.default]\ntype = \"memcached\"\n");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = start_error(app.path(), &args, &[]);
    assert!(
        log.contains("runtime-config.toml: [key_value_store.default]: unknown type \"memcached\""),
        "{log}"
    );
}

#[test]
fn key_value_store_must_be_granted() {
    let app = TestApp::new(
        &manifest("kv", &[("/...", "counter", "kv.wasm", "")]),
        &[("kv.wasm", probe("counter", Probe::KeyValue))],
    );
    let run = app.start(&[], &[]);
    assert_eq!(run.get("/").status, 500);
    let log = run.wait_for_log("not granted");
    assert!(log.contains("add it to `key_value_stores`"), "{log}");
}

#[test]
fn outbound_http_follows_allowed_outbound_hosts() {
    let allowed = upstream("pong");
    let other = upstream("should not be reached");
    let manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "outbound"
[[trigger.http]]
route = "/..."
component = "relay"
[component.relay]
source = "relay.wasm"
allowed_outbound_hosts = ["http://{allowed}"]
"#
    );
    let app = TestApp::new(&manifest, &[("relay.wasm", inbound(true))]);
    let run = app.start(&[], &[]);

    let r = request(
        run.addr,
        "POST",
        "/",
        &[],
        format!("http://{allowed}/ping").as_bytes(),
    );
    assert_eq!((r.status, r.body.as_str()), (200, "upstream: pong"));

    // destination-not-allowed is case 1 of Spin's http-error enum.
    let r = request(
        run.addr,
        "POST",
        "/",
        &[],
        format!("http://{other}/ping").as_bytes(),
    );
    assert_eq!((r.status, r.body.as_str()), (502, "error 1"));
    let log = run.wait_for_log("outbound request denied");
    assert!(
        log.contains(&format!("add \"http://{other}\" to allowed_outbound_hosts")),
        "{log}"
    );
}

/// A version 1 manifest (Spin 1's shape) is converted on load: `base`, the repaired
/// component id, `config` as variables and `allowed_http_hosts` all take effect.
#[test]
fn serves_a_version_1_manifest() {
    let allowed = upstream("pong");
    let manifest = format!(
        r#"
spin_manifest_version = "1"
name = "old-style"
trigger = {{ type = "http", base = "/v1" }}
[variables]
greeting = {{ default = "hello" }}
[[component]]
id = "echo_probe"
source = "echo.wasm"
config = {{ message = "{{{{ greeting }}}} from v1" }}
[component.trigger]
route = "/echo/..."
[[component]]
id = "relay"
source = "relay.wasm"
allowed_http_hosts = ["{allowed}"]
[component.trigger]
route = "/relay"
"#
    );
    let app = TestApp::new(
        &manifest,
        &[
            ("echo.wasm", probe("echo", Probe::Echo)),
            ("relay.wasm", inbound(true)),
        ],
    );
    let run = app.start(&[], &[]);
    let r = run.get("/v1/echo/x");
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("echo\n"), "{}", r.body);
    assert!(
        r.body.contains("variable message: hello from v1\n"),
        "{}",
        r.body
    );
    assert_eq!(run.get("/echo/x").status, 404);
    let r = request(
        run.addr,
        "POST",
        "/v1/relay",
        &[],
        format!("http://{allowed}/ping").as_bytes(),
    );
    assert_eq!((r.status, r.body.as_str()), (200, "upstream: pong"));
}

#[test]
fn streams_the_response_body_as_the_guest_writes_it() {
    let app = TestApp::new(
        &manifest("stream", &[("/...", "stream", "stream.wasm", "")]),
        &[("stream.wasm", probe("stream", Probe::Stream))],
    );
    let run = app.start(&[], &[]);
    let (status, _, chunks) = request_timed(run.addr, "GET", "/", &[], b"");
    assert_eq!(status, 200);
    let body: Vec<u8> = chunks.iter().flat_map(|(_, c)| c.clone()).collect();
    assert_eq!(body, b"chunk\nchunk\nchunk\n");
    assert!(
        chunks.len() >= 3,
        "expected separate chunks, got {chunks:?}"
    );
    let (first, last) = (chunks[0].0, chunks[chunks.len() - 1].0);
    assert!(
        last - first >= Duration::from_millis(500),
        "chunks arrived together: {chunks:?}"
    );
}

#[test]
fn trap_timeout_and_out_of_memory_fail_only_their_request() {
    let app = TestApp::new(
        &manifest(
            "isolation",
            &[
                ("/trap", "trap", "trap.wasm", ""),
                ("/loop", "spin-forever", "loop.wasm", ""),
                ("/oom", "oom", "oom.wasm", ""),
                ("/...", "ok", "ok.wasm", ""),
            ],
        ),
        &[
            ("trap.wasm", probe("trap", Probe::Trap)),
            ("loop.wasm", probe("loop", Probe::Loop)),
            ("oom.wasm", probe("oom", Probe::OutOfMemory)),
            ("ok.wasm", probe("ok", Probe::Hello)),
        ],
    );
    let run = app.start(
        &["--request-timeout", "1", "--max-instance-memory", "16"],
        &[],
    );
    assert_eq!(run.get("/").status, 200);

    assert_eq!(run.get("/trap").status, 500);
    assert_eq!(run.get("/").body, "Hello, world!\n");

    let started = std::time::Instant::now();
    assert_eq!(run.get("/loop").status, 500);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "timeout took {:?}",
        started.elapsed()
    );
    assert_eq!(run.get("/").body, "Hello, world!\n");

    assert_eq!(run.get("/oom").status, 500);
    assert_eq!(run.get("/").body, "Hello, world!\n");

    let log = run.wait_for_log("memory limit");
    assert!(
        log.contains("component=trap") && log.contains("guest failed"),
        "{log}"
    );
    assert!(log.contains("timed out after 1s"), "{log}");
    assert!(log.contains("exceeded the instance memory limit"), "{log}");
}

#[test]
fn spinkubes_instance_memory_variable_caps_instances() {
    let app = TestApp::new(
        &manifest("capped", &[("/...", "ok", "ok.wasm", "")]),
        &[("ok.wasm", probe("ok", Probe::Hello))],
    );
    // Below the component's own minimum memory: refused at start, saying so.
    let log = start_error(app.path(), &[], &[("SPIN_MAX_INSTANCE_MEMORY", "4Ki")]);
    assert!(log.contains("exceeds the limit of 0x1000 bytes"), "{log}");
    let run = app.start(&[], &[("SPIN_MAX_INSTANCE_MEMORY", "64Mi")]);
    assert_eq!(run.get("/").status, 200);
    drop(run);
    let log = start_error(app.path(), &[], &[("SPIN_MAX_INSTANCE_MEMORY", "lots")]);
    assert!(log.contains("--max-instance-memory-bytes"), "{log}");
}

#[test]
fn a_busy_guest_does_not_block_others() {
    let app = TestApp::new(
        &manifest(
            "fairness",
            &[
                ("/loop", "spin-forever", "loop.wasm", ""),
                ("/...", "ok", "ok.wasm", ""),
            ],
        ),
        &[
            ("loop.wasm", probe("loop", Probe::Loop)),
            ("ok.wasm", probe("ok", Probe::Hello)),
        ],
    );
    let run = app.start(&["--request-timeout", "3"], &[]);
    let addr = run.addr;
    let busy: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || request(addr, "GET", "/loop", &[], b"").status))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert_eq!(run.get("/").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?} behind busy guests",
        started.elapsed()
    );
    for b in busy {
        assert_eq!(b.join().unwrap(), 500);
    }
}

#[test]
fn compiled_components_are_cached_and_corrupt_entries_rebuilt() {
    let app = TestApp::new(
        &manifest("cache", &[("/...", "ok", "ok.wasm", "")]),
        &[("ok.wasm", probe("ok", Probe::Hello))],
    );
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let run = app.start(&["--cache-dir", cache_arg], &[]);
    assert!(run.log().contains("compiled component"), "{}", run.log());
    // The compiled code is written to the cache in the background.
    run.wait_for_log("compiled component written to the cache");
    drop(run);

    let run = app.start(&["--cache-dir", cache_arg], &[]);
    assert!(
        run.log()
            .contains("loaded precompiled component from cache"),
        "{}",
        run.log()
    );
    assert_eq!(run.get("/").status, 200);
    drop(run);

    for entry in std::fs::read_dir(cache.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            std::fs::write(&path, b"garbage").unwrap();
        }
    }
    let run = app.start(&["--cache-dir", cache_arg], &[]);
    let log = run.log();
    assert!(
        log.contains("corrupt; recompiling") && log.contains("compiled component"),
        "{log}"
    );
    assert_eq!(run.get("/").status, 200);
}

/// The compile cache is found by the digest of the bytes an app carries: a component
/// with `inline` bytes and another app's `digest` is refused at start, never served
/// that app's cached code (with the first app's variables and hosts).
#[test]
fn inline_bytes_with_another_apps_digest_do_not_reach_its_cached_code() {
    use base64::Engine as _;
    let victim_wasm = probe("victim", Probe::Echo);
    let victim = TestApp::new(
        &manifest("victim", &[("/...", "victim", "victim.wasm", "")]),
        &[("victim.wasm", victim_wasm.clone())],
    );
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let run = victim.start(&["--cache-dir", cache_arg], &[]);
    run.wait_for_log("compiled component written to the cache");
    drop(run);

    let victim_digest = spin_app::Sha256Digest::of(&victim_wasm).to_string();
    let attacker_wasm = probe("attacker", Probe::Hello);
    let locked = serde_json::json!({
        "spin_lock_version": 1,
        "metadata": {"name": "attacker"},
        "triggers": [{"id": "t", "trigger_type": "http",
                      "trigger_config": {"route": "/...", "component": "attacker"}}],
        "components": [{"id": "attacker", "source": {
            "content_type": "application/wasm",
            "inline": base64::engine::general_purpose::STANDARD.encode(&attacker_wasm),
            "digest": victim_digest,
        }}],
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spin.lock");
    std::fs::write(&path, locked.to_string()).unwrap();
    let error = start_error(&path, &["--cache-dir", cache_arg], &[]);
    let actual = spin_app::Sha256Digest::of(&attacker_wasm).to_string();
    assert!(
        error.contains(&format!(
            "its Wasm has digest {actual}, but the app says {victim_digest}"
        )),
        "{error}"
    );
    assert!(!error.contains("loaded precompiled component"), "{error}");
}

#[test]
fn bad_apps_fail_at_start_with_the_field_to_fix() {
    let one = |route: &str, source: &str| {
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"bad\"\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"c\"\n[component.c]\nsource = \"{source}\"\n"
        )
    };
    type Case<'a> = (String, Vec<(&'a str, Vec<u8>)>, &'a str);
    let cases: Vec<Case> = vec![
        (one("/...", "plain.wasm"), vec![("plain.wasm", not_http())], "component `c` is not an HTTP component"),
        (one("/...", "junk.wasm"), vec![("junk.wasm", b"not wasm".to_vec())], "component `c` is not a valid Wasm component"),
        (one("hello", "ok.wasm"), vec![("ok.wasm", probe("ok", Probe::Hello))], "route \"hello\" of component `c` must start with `/`"),
        (one("/...", "missing.wasm"), vec![], "component.c.source"),
        (
            one("/...", "ok.wasm").replace("[component.c]", "[variables]\nkey = { required = true }\n[component.c]\nvariables = { k = \"{{ key }}\" }"),
            vec![("ok.wasm", probe("ok", Probe::Hello))],
            "SPIN_VARIABLE_KEY",
        ),
        (
            one("/...", "ok.wasm").replace("[[trigger.http]]", "[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n[[trigger.http]]"),
            vec![("ok.wasm", probe("ok", Probe::Hello))],
            "trigger `c-redis-trigger`: has no server: set `address` on the trigger",
        ),
        (
            one("/...", "ok.wasm").replace("[[trigger.http]]", "[[trigger.redis]]\nchannel = \"x\"\naddress = \"redis://127.0.0.1:1\"\ncomponent = \"c\"\n[[trigger.http]]"),
            vec![("ok.wasm", probe("ok", Probe::Hello))],
            "component `c` is not a Redis component this runtime can run: it exports `wasi:http/incoming-handler@0.2.",
        ),
        (
            one("/...", "ok.wasm").replace("[[trigger.http]]", "[[trigger.sqs]]\nqueue_url = \"x\"\ncomponent = \"c\"\n[[trigger.http]]"),
            vec![("ok.wasm", probe("ok", Probe::Hello))],
            "trigger type `sqs` is not supported; this runtime runs `http`, `redis`, `mqtt`, `command` and `cron` triggers",
        ),
        (
            one("/...", "ok.wasm").replace("component = \"c\"", "component = \"c\"\nexecutor = { type = \"wagi\" }"),
            vec![("ok.wasm", probe("ok", Probe::Hello))],
            "executor type `wagi` is not supported",
        ),
        (
            one("/...", "ok.wasm") + "key_value_stores = [\"cache\"]\n",
            vec![("ok.wasm", probe("ok", Probe::Hello))],
            "component `c`: key_value_stores: store `cache` is not defined; only `default` is unless a runtime config file adds [key_value_store.cache]",
        ),
        (
            one("/...", "ok.wasm") + "sqlite_databases = [\"reports\"]\n",
            vec![("ok.wasm", probe("ok", Probe::Hello))],
            "component `c`: sqlite_databases: database `reports` is not defined; only `default` is unless a runtime config file adds [sqlite_database.reports]",
        ),
        (
            one("/a", "ok.wasm").replace("[component.c]", "[[trigger.http]]\nroute = \"/a\"\ncomponent = \"c\"\n[component.c]"),
            vec![("ok.wasm", probe("ok", Probe::Hello))],
            "match the same requests",
        ),
    ];
    for (manifest, files, expected) in cases {
        let app = TestApp::new(&manifest, &files);
        let log = start_error(app.path(), &[], &[]);
        assert!(
            log.contains(expected),
            "expected {expected:?} in:\n{log}\n--- manifest ---\n{manifest}"
        );
    }
}

#[test]
fn components_sharing_one_wasm_compile_it_once() {
    let routes: Vec<(String, String)> = (0..12)
        .map(|i| (format!("/c{i}/..."), format!("c{i}")))
        .collect();
    let components: Vec<(&str, &str, &str, &str)> = routes
        .iter()
        .map(|(route, id)| (route.as_str(), id.as_str(), "shared.wasm", ""))
        .collect();
    let app = TestApp::new(
        &manifest("shared", &components),
        &[("shared.wasm", probe("shared", Probe::Echo))],
    );
    let run = app.start(&["--no-cache"], &[]);
    for i in [0, 11] {
        assert_eq!(run.get(&format!("/c{i}/x")).status, 200);
    }
    let log = run.log();
    // Once per compiler: baseline first, then optimized in the background.
    let compiles = |tier: &str| {
        log.lines()
            .filter(|l| l.contains(": compiled component") && l.contains(tier))
            .count()
    };
    assert_eq!(compiles("baseline"), 1, "{log}");
    assert!(compiles("optimized") <= 1, "{log}");
}
