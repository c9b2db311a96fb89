//! Spin's data services from apps built with the official Python SDKs
//! (`examples/data-python`: spin-sdk 3.4.1, `fermyon:spin/sqlite@2.0.0` and
//! `fermyon:spin/redis@2.0.0`; `examples/data-python-sdk5`: spin-sdk 5,
//! `spin:sqlite/sqlite@3.1.0` with streamed rows, `spin:redis@3.0.0` and
//! `spin:mqtt@3.0.0`; spin-sdk 3.4.1 also `fermyon:spin/mqtt@2.0.0`), served by the real
//! `spin-run` with the example's runtime config file, against a real `redis-server`,
//! `mosquitto`, PostgreSQL and MariaDB on free loopback ports (PostgreSQL and MySQL
//! through `fermyon:spin/postgres@2.0.0` and `fermyon:spin/mysql@2.0.0` from spin-sdk
//! 3.4.1, `spin:postgres@4.2.0` and `spin:mysql@3.0.0`, async, from spin-sdk 5).
//! `examples/data-python-sdk4` is spin-sdk 4.0.0 (Spin 4.0: WASI release candidates,
//! `spin:postgres@4.2.0`, MySQL through `fermyon:spin/mysql@2.0.0`).

mod support;

use std::path::{Path, PathBuf};

use spin_kube_e2e::mariadb::MariadbServer;
use spin_kube_e2e::mqtt::MosquittoServer;
use spin_kube_e2e::postgres::PostgresServer;
use spin_kube_e2e::redis::RedisServer;
use spin_kube_e2e::test_ca::TestCa;
use support::{Runner, built_sample, request};

/// The compile cache shared by these tests (and kept between runs).
fn cache_dir() -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-data-compiled");
    dir.to_string_lossy().into_owned()
}

/// `spin-run` serving `app` with a state directory and a runtime config file.
fn start(app: &Path, state: &Path, runtime_config: &Path, env: &[(&str, &str)]) -> Runner {
    let args = [
        "--cache-dir",
        &cache_dir(),
        "--state-dir",
        state.to_str().unwrap(),
        "--runtime-config-file",
        runtime_config.to_str().unwrap(),
    ];
    Runner::start(app, &args, env).unwrap_or_else(|log| panic!("spin-run did not start:\n{log}"))
}

/// The servers a data example talks to: Redis, an MQTT broker, PostgreSQL, MySQL.
struct Servers {
    redis: String,
    mqtt: String,
    pg: String,
    mysql: String,
}

impl Servers {
    /// The addresses of four running servers (plain or TLS; the address says which).
    fn addresses(
        redis: &RedisServer,
        broker: &MosquittoServer,
        postgres: &PostgresServer,
        mariadb: &MariadbServer,
    ) -> Self {
        Self {
            redis: redis.address(),
            mqtt: broker.address(),
            pg: postgres.address(),
            mysql: mariadb.address(),
        }
    }

    /// The example's variables pointing at these servers.
    fn variables(&self) -> [(&'static str, &str); 4] {
        [
            ("SPIN_VARIABLE_REDIS_ADDRESS", &self.redis),
            ("SPIN_VARIABLE_MQTT_ADDRESS", &self.mqtt),
            ("SPIN_VARIABLE_PG_ADDRESS", &self.pg),
            ("SPIN_VARIABLE_MYSQL_ADDRESS", &self.mysql),
        ]
    }
}

/// A data example with its own runtime config file and its servers.
fn start_example(dir: &Path, state: &Path, servers: &Servers) -> Runner {
    let runtime_config = dir.join("runtime-config.toml");
    start(dir, state, &runtime_config, &servers.variables())
}

/// `pg_types`: the body `/pg-types` answers (spin-sdk 5's richer PostgreSQL types).
fn data_services_read_write_persist_and_refuse(dir: PathBuf, pg_types: Option<&str>) {
    let (Some(redis), Some(broker), Some(postgres), Some(mariadb)) = (
        RedisServer::start(),
        MosquittoServer::start(),
        PostgresServer::start(),
        MariadbServer::start(),
    ) else {
        return;
    };
    let servers = Servers::addresses(&redis, &broker, &postgres, &mariadb);
    let state = tempfile::tempdir().unwrap();
    let run = start_example(&dir, state.path(), &servers);
    let post = |run: &Runner, body: &str| {
        let r = request(run.addr, "POST", "/notes", &[], body.as_bytes());
        assert_eq!(r.status, 201, "{}\n{}", r.body, run.log());
        r.body
    };
    assert_eq!(post(&run, "first note"), "note 1\n");
    assert_eq!(post(&run, "second"), "note 2\n");
    assert_eq!(run.get("/notes").body, "1: first note\n2: second\n");
    assert_eq!(
        run.get("/types").body,
        "Value_Integer=-7 Value_Real=1.5 Value_Text='héllo' Value_Blob=b'\\x00\\xff' Value_Null=None\n"
    );
    // `scratch` is in memory (runtime config): kept across requests, not restarts.
    assert_eq!(run.get("/scratch").body, "scratch hits=1\n");
    assert_eq!(run.get("/scratch").body, "scratch hits=2\n");

    let denied = run.get("/denied");
    assert_eq!(denied.body, "Error_AccessDenied: \n");
    run.wait_for_log("add it to `sqlite_databases` in spin.toml");
    let outside = run.get("/outside");
    assert!(
        outside.body.starts_with("Error_Io: not authorized"),
        "{}",
        outside.body
    );

    // Outbound Redis: both SDKs' interfaces, a server of the test's own.
    for visits in 1..=2 {
        let r = run.get("/redis");
        assert_eq!(
            r.body,
            format!("hello from Python visits={visits} langs=python,rust ping=PONG echo=echo\n"),
            "{}",
            run.log()
        );
    }
    // MQTT: published at-least-once, seen by a subscriber of the test's own.
    let subscriber = broker.subscribe("notes");
    let r = request(run.addr, "POST", "/mqtt", &[], b"hello broker");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "published\n"),
        "{}",
        run.log()
    );
    subscriber.wait_for("hello broker");

    let denied = run.get("/redis-denied");
    assert_eq!(denied.body, "Error_InvalidAddress: \n");
    run.wait_for_log("add \"redis://example.com:6379\" to allowed_outbound_hosts");

    // PostgreSQL and MySQL (MariaDB): a table of the app's, rows added with parameters
    // (MySQL's `legs` unsigned) and read back; a server not allowed refused.
    for (route, denied_address) in [
        ("pg", "postgres://example.com:5432"),
        ("mysql", "mysql://example.com:3306"),
    ] {
        for pets in 1..=2 {
            assert_eq!(
                run.get(&format!("/{route}")).body,
                format!("Rex legs=4 weight=12.5 pets={pets}\n"),
                "{}",
                run.log()
            );
        }
        assert_eq!(
            run.get(&format!("/{route}-denied")).body,
            format!("Error_ConnectionFailed: address {denied_address} is not permitted\n")
        );
        run.wait_for_log(&format!(
            "add \"{denied_address}\" to allowed_outbound_hosts"
        ));
    }
    if let Some(expected) = pg_types {
        assert_eq!(run.get("/pg-types").body, expected, "{}", run.log());
    }
    drop(run);

    let run = start_example(&dir, state.path(), &servers);
    assert_eq!(
        run.get("/notes").body,
        "1: first note\n2: second\n",
        "the default database survives a restart"
    );
    assert_eq!(run.get("/scratch").body, "scratch hits=1\n");
    assert!(state.path().join("sqlite_db.db").is_file());
    assert_eq!(run.get("/pg").body, "Rex legs=4 weight=12.5 pets=3\n");
    assert_eq!(run.get("/mysql").body, "Rex legs=4 weight=12.5 pets=3\n");
}

#[test]
fn python_sdk3_app_uses_sqlite_redis_mqtt_postgres_and_mysql() {
    let Some(dir) = built_sample("data-python", "../build-python.sh") else {
        return;
    };
    data_services_read_write_persist_and_refuse(dir, None);
}

/// What `/pg-types` answers through `spin:postgres@4.2.0` (spin-sdk 4.0 and 5).
const PG_TYPES: &str = concat!(
    "Date=(2024, 2, 29)\n",
    "Time=(13, 5, 7, 0)\n",
    "Datetime=(2024, 2, 29, 13, 5, 7, 0)\n",
    "Uuid='6f1c2a8e-3b9d-4e5f-8a7b-1c2d3e4f5a6b'\n",
    "Jsonb=b'{\"good\": true}'\n",
    "Decimal='12.50'\n",
    "ArrayStr=['dog', None]\n",
    "ArrayInt64=[1, None, 3]\n",
    "Interval=Interval(micros=1500000, days=2, months=1)\n",
    "DbNull=None\n",
    "Binary=b'\\x00\\xff'\n",
    // `inet` has no case in the interface: its wire bytes.
    "Unsupported=b'\\x02 \\x00\\x04\\xc0\\x00\\x02\\x01'\n",
);

#[test]
fn python_sdk5_app_uses_sqlite_redis_mqtt_postgres_and_mysql() {
    let Some(dir) = built_sample("data-python-sdk5", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    data_services_read_write_persist_and_refuse(dir, Some(PG_TYPES));
}

/// Spin 4.0's SDK: every WASI interface at its release candidate, the handler exported
/// as `wasi:http/handler@0.3.0-rc-2026-03-15`.
#[test]
fn python_sdk4_app_uses_sqlite_redis_mqtt_postgres_and_mysql() {
    let Some(dir) = built_sample(
        "data-python-sdk4",
        "../build-python.sh 4.0.0 0.23.0 spin:up/http-trigger@4.0.0",
    ) else {
        return;
    };
    data_services_read_write_persist_and_refuse(dir, Some(PG_TYPES));
}

/// The `default` key-value store placed on Redis by a runtime config file: two
/// `spin-run` processes (the spin-sdk 5 sample and the spin-sdk 3.4.1 one) count into
/// the same store, and each sees the other's writes; `wasi:keyvalue` atomics increment
/// on the server.
#[test]
fn a_key_value_store_on_redis_is_shared_by_two_processes() {
    let (Some(sdk5), Some(sdk3)) = (
        built_sample("hello-python-sdk5", "../build-python.sh 5.0.0 0.25.1"),
        built_sample("hello-python", "../build-python.sh"),
    ) else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runtime_config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.address()
        ),
    )
    .unwrap();
    let a = start(&sdk5, &dir.path().join("sdk5"), &runtime_config, &[]);
    let b = start(&sdk3, &dir.path().join("sdk3"), &runtime_config, &[]);
    assert_eq!(a.get("/count").body, "visits=1\n", "{}", a.log());
    assert_eq!(b.get("/count").body, "visits=2\n", "{}", b.log());
    assert_eq!(a.get("/count").body, "visits=3\n");
    assert_eq!(a.get("/wasi-count").body, "wasi-visits=1\n");
    assert_eq!(a.get("/wasi-count").body, "wasi-visits=2\n");
    // Nothing was written to a SQLite file.
    assert!(
        !dir.path()
            .join("hello-python-sdk5/sqlite_key_value.db")
            .exists()
    );
    drop(redis);
    // The server gone: the request fails, the app stays up.
    let r = a.get("/count");
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(a.get("/.well-known/spin/health").status, 200);
}

/// The spin-sdk 5 data example against Redis, an MQTT broker, PostgreSQL and MariaDB
/// that take only TLS, with certificates from a CA the test made (`rediss://`,
/// `mqtts://`, `sslmode=require`, `ssl-mode=REQUIRED`): trusted through a
/// `[[client_tls]]` table for the component, each round trip works; without the table
/// the built-in roots do not trust the servers, and each call fails saying so — unless
/// the guest trusts the CA itself for a PostgreSQL connection (`set-ca-root`).
#[test]
fn python_sdk5_app_reaches_redis_mqtt_postgres_and_mysql_over_tls() {
    let Some(dir) = built_sample("data-python-sdk5", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::write_to(certs.path());
    let (Some(redis), Some(broker), Some(postgres), Some(mariadb)) = (
        RedisServer::start_tls(&ca),
        MosquittoServer::start_tls(&ca),
        PostgresServer::start_tls(&ca),
        MariadbServer::start_tls(&ca),
    ) else {
        return;
    };
    let servers = Servers::addresses(&redis, &broker, &postgres, &mariadb);
    assert!(servers.redis.starts_with("rediss://"), "{}", servers.redis);
    assert!(servers.mqtt.starts_with("mqtts://"), "{}", servers.mqtt);
    let example = std::fs::read_to_string(dir.join("runtime-config.toml")).unwrap();
    let trusted = certs.path().join("trusted.toml");
    std::fs::write(
        &trusted,
        format!(
            "{example}\n[[client_tls]]\ncomponent_ids = [\"data\"]\nhosts = [\"127.0.0.1\"]\n\
             ca_roots_file = \"ca.pem\"\n"
        ),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let run = start(&dir, state.path(), &trusted, &servers.variables());
    let r = run.get("/redis");
    assert_eq!(
        r.body,
        "hello from Python visits=1 langs=python,rust ping=PONG echo=echo\n",
        "{}",
        run.log()
    );
    let subscriber = broker.subscribe("notes");
    let r = request(run.addr, "POST", "/mqtt", &[], b"hello over TLS");
    assert_eq!(r.body, "published\n", "{}", run.log());
    subscriber.wait_for("hello over TLS");
    for route in ["/pg", "/mysql"] {
        assert_eq!(
            run.get(route).body,
            "Rex legs=4 weight=12.5 pets=1\n",
            "{route}: {}",
            run.log()
        );
    }
    drop(run);

    // The example's own runtime config: no [[client_tls]], only the built-in roots.
    let run = start_example(&dir, state.path(), &servers);
    let posted = request(run.addr, "POST", "/mqtt", &[], b"not sent");
    for (route, r) in [
        ("/redis", run.get("/redis")),
        ("/mqtt", posted),
        ("/pg", run.get("/pg")),
        ("/mysql", run.get("/mysql")),
    ] {
        assert_eq!(r.status, 500, "{route}: {}", r.body);
        assert!(
            r.body
                .contains("the server's TLS certificate is not trusted"),
            "{route}: {}\n{}",
            r.body,
            run.log()
        );
    }
    // A guest may trust a root for one PostgreSQL connection (`set-ca-root`).
    let ca_pem = std::fs::read(certs.path().join("ca.pem")).unwrap();
    let r = request(run.addr, "POST", "/pg-ca-root", &[], &ca_pem);
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "trusted\n"),
        "{}",
        run.log()
    );
    let r = request(run.addr, "POST", "/pg-ca-root", &[], b"not a certificate");
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("set-ca-root"), "{}", r.body);
}

/// A key-value store on a Redis server that serves only TLS, with a certificate from a
/// CA the test made: trusted through a `[[client_tls]]` table whose `ca_roots_file` is
/// relative to the runtime config file; without the table the built-in roots do not
/// trust it, and the request fails with a log line saying what to add.
#[test]
fn a_key_value_store_on_rediss_trusts_the_client_tls_roots() {
    let Some(sdk5) = built_sample("hello-python-sdk5", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::write_to(dir.path());
    let Some(redis) = RedisServer::start_tls(&ca) else {
        return;
    };
    let store = format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
        redis.address()
    );
    assert!(store.contains("rediss://127.0.0.1:"), "{store}");
    let trusted = dir.path().join("trusted.toml");
    std::fs::write(
        &trusted,
        format!("{store}[[client_tls]]\ncomponent_ids = [\"hello\"]\nhosts = [\"127.0.0.1\"]\nca_roots_file = \"ca.pem\"\n"),
    )
    .unwrap();
    let run = start(&sdk5, &dir.path().join("trusted"), &trusted, &[]);
    assert_eq!(run.get("/count").body, "visits=1\n", "{}", run.log());
    assert_eq!(run.get("/count").body, "visits=2\n", "{}", run.log());
    drop(run);

    let untrusted = dir.path().join("untrusted.toml");
    std::fs::write(&untrusted, &store).unwrap();
    let run = start(&sdk5, &dir.path().join("untrusted"), &untrusted, &[]);
    let r = run.get("/count");
    assert_eq!(r.status, 500, "{}", r.body);
    run.wait_for_log("the server's TLS certificate is not trusted");
    run.wait_for_log("[[client_tls]] table (ca_roots_file)");
    drop(run);

    // A certificate file that is not there names the table and the key.
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        format!("{store}[[client_tls]]\ncomponent_ids = [\"hello\"]\nhosts = [\"127.0.0.1\"]\nca_roots_file = \"nope.pem\"\n"),
    )
    .unwrap();
    let failed = support::Runner::start(
        &sdk5,
        &["--runtime-config-file", missing.to_str().unwrap()],
        &[],
    )
    .err()
    .expect("spin-run refuses a missing ca_roots_file");
    assert!(
        failed.contains("[[client_tls]] #1: `ca_roots_file` nope.pem"),
        "{failed}"
    );
}

/// A Redis server that takes only clients with a certificate its CA signed (mutual
/// TLS): the `[[client_tls]]` table's `client_cert_file` and `client_private_key_file`
/// get the app in; with the CA alone the server turns the connection away, and the
/// log says what to add.
#[test]
fn a_rediss_server_requiring_client_certificates_gets_the_tables_certificate() {
    let Some(sdk5) = built_sample("hello-python-sdk5", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::write_to(dir.path());
    let Some(redis) = RedisServer::start_tls_requiring_client_certificates(&ca) else {
        return;
    };
    let store = format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n\
         [[client_tls]]\ncomponent_ids = [\"hello\"]\nhosts = [\"127.0.0.1\"]\nca_roots_file = \"ca.pem\"\n",
        redis.address()
    );
    let with_certificate = dir.path().join("mutual.toml");
    std::fs::write(
        &with_certificate,
        format!(
            "{store}client_cert_file = \"client.pem\"\nclient_private_key_file = \"client-key.pem\"\n"
        ),
    )
    .unwrap();
    let run = start(&sdk5, &dir.path().join("mutual"), &with_certificate, &[]);
    assert_eq!(run.get("/count").body, "visits=1\n", "{}", run.log());
    drop(run);

    let without = dir.path().join("ca-only.toml");
    std::fs::write(&without, &store).unwrap();
    let run = start(&sdk5, &dir.path().join("ca-only"), &without, &[]);
    let r = run.get("/count");
    assert_eq!(r.status, 500, "{}", r.body);
    let log = run.wait_for_log("the server requires a client certificate");
    assert!(
        log.contains("client_cert_file and client_private_key_file in a [[client_tls]] table"),
        "{log}"
    );
}
