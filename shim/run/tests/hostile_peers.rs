//! Servers that attack the client connecting to them (`spin_kube_e2e::hostile_peer`):
//! an app built with the official Python SDK (`examples/data-python-sdk5`, spin-sdk 5)
//! is pointed at each, through its own variables, as a tenant could point it. Each
//! attack must fail the one request that met it, with an error naming the bound, and
//! the runtime must go on answering with its memory bounded: for each case the test
//! prints the runner's resident memory before and after.

mod support;

use std::path::Path;

use spin_kube_e2e::hostile_peer::{
    HostilePeer, HttpAttack, MqttAttack, MysqlAttack, PostgresAttack, RedisAttack,
};
use support::{Runner, TestApp, built_sample, request};
use test_guests::inbound;

/// What a case sends the app to, and what the request must answer.
struct Case {
    name: &'static str,
    peer: HostilePeer,
    variable: &'static str,
    route: &'static str,
    /// Text the failed request's body must contain.
    error: &'static str,
}

fn start(dir: &Path, state: &Path, case: &Case) -> Runner {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-data-compiled");
    let runtime_config = dir.join("runtime-config.toml");
    let address = case.peer.address();
    let args = [
        "--cache-dir",
        cache.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--runtime-config-file",
        runtime_config.to_str().unwrap(),
    ];
    Runner::start(dir, &args, &[(case.variable, address.as_str())])
        .unwrap_or_else(|log| panic!("spin-run did not start:\n{log}"))
}

#[test]
fn each_hostile_server_costs_only_the_request_that_met_it() {
    let Some(dir) = built_sample("data-python-sdk5", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let cases = [
        Case {
            name: "PostgreSQL: a type that is an array of itself",
            peer: HostilePeer::postgres(PostgresAttack::SelfReferentialArrayType),
            variable: "SPIN_VARIABLE_PG_ADDRESS",
            route: "/pg",
            error: "the PostgreSQL server made one statement wait for more than 64 answers",
        },
        Case {
            name: "MySQL: a result of 2^36 columns",
            peer: HostilePeer::mysql(MysqlAttack::DeclaredColumns(1 << 36)),
            variable: "SPIN_VARIABLE_MYSQL_ADDRESS",
            route: "/mysql",
            error: "The server declared 68719476736 columns",
        },
        Case {
            name: "Redis: 16 MiB of small integers",
            peer: HostilePeer::redis(RedisAttack::IntegerFlood(4 << 20)),
            variable: "SPIN_VARIABLE_REDIS_ADDRESS",
            route: "/redis",
            error: "the Redis server sent more than SPIN_OUTBOUND_MAX_RESPONSE_BODY bytes",
        },
        Case {
            name: "Redis: arrays nested 100,000 deep",
            peer: HostilePeer::redis(RedisAttack::DeepNesting(100_000)),
            variable: "SPIN_VARIABLE_REDIS_ADDRESS",
            route: "/redis",
            error: "the Redis server nested replies more than 32 deep",
        },
        Case {
            name: "MQTT: a 256 MiB packet instead of an acknowledgement",
            peer: HostilePeer::mqtt(MqttAttack::OversizedPacket),
            variable: "SPIN_VARIABLE_MQTT_ADDRESS",
            route: "/mqtt",
            error: "payload size limit exceeded: 268435455",
        },
    ];
    let state = tempfile::tempdir().unwrap();
    for case in cases {
        let run = start(&dir, state.path(), &case);
        let hello = run.get("/hello");
        assert_eq!((hello.status, hello.body.as_str()), (200, "hello\n"));
        let before = run.rss_kib();

        let attacked = run.get(case.route);
        assert!(
            case.peer.connections() > 0,
            "{}: the app never reached the hostile server\n{}",
            case.name,
            run.log()
        );
        assert_eq!(attacked.status, 500, "{}: {}", case.name, attacked.body);
        assert!(
            attacked.body.contains(case.error),
            "{}: the request answered {:?}, not naming {:?}\n{}",
            case.name,
            attacked.body,
            case.error,
            run.log()
        );

        let after_attack = run.get("/hello");
        assert_eq!(
            (after_attack.status, after_attack.body.as_str()),
            (200, "hello\n"),
            "{}: the runtime stopped answering\n{}",
            case.name,
            run.log()
        );
        let after = run.rss_kib();
        println!(
            "{}: request failed with {:?}; RSS {} MiB before, {} MiB after",
            case.name,
            attacked.body.trim(),
            before / 1024,
            after / 1024
        );
        assert!(
            after < before + (256 << 10),
            "{}: resident memory grew from {before} KiB to {after} KiB",
            case.name
        );
    }
}

/// HTTP upstreams: a guest relays a request (`fermyon:spin/http`, which hands the guest
/// the whole body) to a server answering with endless headers, and to one sending a
/// body far past `SPIN_OUTBOUND_MAX_RESPONSE_BODY`. Each fails the relayed request only.
#[test]
fn hostile_http_upstreams_cost_only_the_request_that_met_them() {
    for (name, attack) in [
        ("HTTP: endless response headers", HttpAttack::EndlessHeaders),
        ("HTTP: a 4 GiB response body", HttpAttack::HugeBody),
    ] {
        let peer = HostilePeer::http(attack);
        let address = peer.address();
        let manifest = format!(
            "spin_manifest_version = 2\n[application]\nname = \"relay\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"relay\"\n\
             [component.relay]\nsource = \"relay.wasm\"\n\
             allowed_outbound_hosts = [\"{address}\"]\n"
        );
        let app = TestApp::new(&manifest, &[("relay.wasm", inbound(true))]);
        let run = app.start(&["--max-outbound-response-body", "8Mi"], &[]);
        let before = run.rss_kib();
        let attacked = request(
            run.addr,
            "POST",
            "/",
            &[],
            format!("{address}/x").as_bytes(),
        );
        assert!(
            peer.connections() > 0,
            "{name}: never reached\n{}",
            run.log()
        );
        // Spin's http-error: the response could not be had.
        assert_eq!(attacked.status, 502, "{name}: {}", attacked.body);
        assert!(
            attacked.body.starts_with("error "),
            "{name}: {}",
            attacked.body
        );
        let after = run.rss_kib();
        println!(
            "{name}: relayed request failed with {:?}; RSS {} MiB before, {} MiB after",
            attacked.body,
            before / 1024,
            after / 1024
        );
        assert!(
            after < before + (64 << 10),
            "{name}: resident memory grew from {before} KiB to {after} KiB"
        );
        // The runtime goes on answering (the relay's own error path included).
        let again = request(run.addr, "POST", "/", &[], b"http://127.0.0.1:1/");
        assert_eq!(again.status, 502, "{name}: {}", again.body);
    }
}
