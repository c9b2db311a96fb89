//! Test components built from WAT and WIT at run time, so tests need no wasm toolchain.
//!
//! The WASI interfaces come from the WIT that `wasmtime-wasi-http` ships (the version in
//! `Cargo.lock`, from cargo's registry sources), the Spin ones from `shim/runtime/wit`,
//! so the guests import exactly what the runtime provides.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::Resolve;

/// Behaviours of the `wasi:http` probe guest (see `guests/probe.wat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Answers with its name, Spin's routing headers and the `message` variable.
    Echo = 0,
    Trap = 1,
    Loop = 2,
    OutOfMemory = 3,
    /// Three chunks, 300 ms apart.
    Stream = 4,
    /// Appends `x` to key `count` of the `default` store and answers with the value.
    KeyValue = 5,
    /// `Hello, world!`: the benchmark guest.
    Hello = 6,
    /// Prints one 100 MiB line to stdout, then answers `Hello, world!`.
    HugeLogLine = 7,
    /// Prints 1,000 lines of 4 KiB to stdout, then answers `Hello, world!`.
    LogFlood = 8,
    /// Opens the `default` store until refused: one `x` per store opened, then a
    /// newline if the refusal was `store-table-full`.
    KeyValueOpenMany = 9,
    /// Opens a Redis connection to the address in the `message` variable until
    /// refused: one `x` per handle, then a newline if the refusal was
    /// `too-many-connections`.
    RedisOpenMany = 10,
    /// Keeps as many `wasi:http` `fields` resources as the `message` variable says (a
    /// decimal count), then answers `Hello, world!`.
    HoldFields = 11,
}

/// A Spin app on disk: `manifest` as the `spin.toml` of a new temporary directory,
/// beside the Wasm files it names.
pub fn app_dir(manifest: &str, wasm: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("spin.toml"), manifest).expect("writing spin.toml");
    for (name, bytes) in wasm {
        std::fs::write(dir.path().join(name), bytes).expect("writing a Wasm file");
    }
    dir
}

const RUNTIME_WAT: &str = include_str!("../guests/runtime.wat");

/// A `wasi:http/incoming-handler` component.
pub fn probe(name: &str, mode: Probe) -> Vec<u8> {
    let wat = include_str!("../guests/probe.wat")
        .replace("INCLUDE_RUNTIME", RUNTIME_WAT)
        .replace("NAME_LEN", &(name.len() + 1).to_string())
        .replace("NAME", name)
        .replace("MODE", &(mode as u8).to_string());
    let imports = [
        "wasi:http/types",
        "wasi:io/streams",
        "wasi:io/poll",
        "wasi:clocks/monotonic-clock",
        "wasi:cli/stdout",
        "fermyon:spin/variables@2.0.0",
        "fermyon:spin/key-value@2.0.0",
        "fermyon:spin/redis@2.0.0",
    ];
    wasi_http_guest("probe", &wat, &imports)
}

/// The benchmark guest: "Hello, world!" importing only `wasi:http` and `wasi:io`, so
/// any `wasi:http` host (such as `wasmtime serve`) can run it.
pub fn hello() -> Vec<u8> {
    let wat = include_str!("../guests/hello.wat");
    wasi_http_guest("hello", wat, &["wasi:http/types", "wasi:io/streams"])
}

/// Encodes a `wasi:http` handler. WASI names in the WAT (written `@0.2.12`) and the
/// unversioned WASI `imports` get the version of the runtime's WIT; other imports are
/// used as given.
fn wasi_http_guest(world: &str, wat: &str, imports: &[&str]) -> Vec<u8> {
    let version = wasi_version();
    let wat = wat.replace("@0.2.12", &format!("@{version}"));
    let imports: String = imports
        .iter()
        .map(|i| {
            if i.starts_with("wasi:") {
                format!("  import {i}@{version};\n")
            } else {
                format!("  import {i};\n")
            }
        })
        .collect();
    let wit = format!(
        "package test:guests;\nworld {world} {{\n{imports}  export wasi:http/incoming-handler@{version};\n}}\n"
    );
    encode(&wat, &wit, world)
}

/// A `fermyon:spin/inbound-http` component; with `relay`, it fetches the URL in the
/// request body through `fermyon:spin/http`.
pub fn inbound(relay: bool) -> Vec<u8> {
    let wat = include_str!("../guests/inbound.wat")
        .replace("INCLUDE_RUNTIME", RUNTIME_WAT)
        .replace("MODE", if relay { "1" } else { "0" });
    let world = "package test:guests;
         world inbound {
           import fermyon:spin/http;
           export fermyon:spin/inbound-http;
         }";
    encode(&wat, world, "inbound")
}

/// A core Wasm module (not a component), as TinyGo and older SDKs build them: its
/// world (`fermyon:spin/inbound-http`, importing `fermyon:spin/variables@2.0.0`) is
/// embedded as metadata, and it imports WASI preview 1's `fd_write`. See
/// `guests/core_module.wat`.
pub fn core_module() -> Vec<u8> {
    let wat = include_str!("../guests/core_module.wat").replace("INCLUDE_RUNTIME", RUNTIME_WAT);
    let world = "package test:guests;
         world core-module {
           import fermyon:spin/variables@2.0.0;
           export fermyon:spin/inbound-http;
         }";
    embedded(&wat, world, "core-module")
}

/// What the `wasi:cli/run` command guest does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandEnd {
    /// Returns `ok` (exit status 0).
    Ok,
    /// Returns `err` (exit status 1).
    Err,
    /// Traps.
    Trap,
}

/// A `wasi:cli/run` command component (the command trigger's world).
pub fn command(end: CommandEnd) -> Vec<u8> {
    let version = wasi_version();
    let body = match end {
        CommandEnd::Ok => "i32.const 0",
        CommandEnd::Err => "i32.const 1",
        CommandEnd::Trap => "unreachable",
    };
    let wat = format!(
        r#"(module (memory (export "memory") 1)
             (func (export "wasi:cli/run@{version}#run") (result i32) {body}))"#
    );
    let wit =
        format!("package test:guests;\nworld command {{\n  export wasi:cli/run@{version};\n}}\n");
    encode(&wat, &wit, "command")
}

/// A cron component (`handle-cron-event`, `fermyon:spin-cron@2.0.0`) that prints
/// `cron fired` to stdout each time it runs.
pub fn cron() -> Vec<u8> {
    let version = wasi_version();
    let wat = r#"(module
      (import "wasi:io/streams@0.2.12" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
      (import "wasi:io/streams@0.2.12" "[resource-drop]output-stream" (func $drop_stream (param i32)))
      (import "wasi:cli/stdout@0.2.12" "get-stdout" (func $get_stdout (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "cron fired\n")
      (func (export "handle-cron-event") (param i64) (result i32)
        (local $out i32)
        (local.set $out (call $get_stdout))
        (call $write (local.get $out) (i32.const 16) (i32.const 11) (i32.const 64))
        (call $drop_stream (local.get $out))
        (i32.store8 (i32.const 128) (i32.const 0))
        (i32.const 128)))"#
        .replace("@0.2.12", &format!("@{version}"));
    let wit = format!(
        "package test:guests;\nworld cron {{\n  import wasi:io/streams@{version};\n  \
         import wasi:cli/stdout@{version};\n  \
         use fermyon:spin-cron/cron-types@2.0.0.{{metadata, error}};\n  \
         export handle-cron-event: func(metadata: metadata) -> result<_, error>;\n}}\n"
    );
    encode(&wat, &wit, "cron")
}

/// An MQTT trigger component (`spin:mqtt-trigger-sdk/inbound-mqtt`) that prints
/// `mqtt message: <payload>` to stdout for each message.
pub fn mqtt_listener() -> Vec<u8> {
    let version = wasi_version();
    let wat = r#"(module
      (import "wasi:io/streams@0.2.12" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
      (import "wasi:io/streams@0.2.12" "[resource-drop]output-stream" (func $drop_stream (param i32)))
      (import "wasi:cli/stdout@0.2.12" "get-stdout" (func $get_stdout (result i32)))
      (memory (export "memory") 1)
      (global $heap (mut i32) (i32.const 4096))
      (data (i32.const 16) "mqtt message: ")
      (data (i32.const 48) "\n")
      (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local.set $p (global.get $heap))
        (global.set $heap (i32.add (local.get $p) (local.get 3)))
        (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
          (then (drop (memory.grow (i32.add (i32.div_u (local.get 3) (i32.const 65536)) (i32.const 1))))))
        (local.get $p))
      (func (export "spin:mqtt-trigger-sdk/inbound-mqtt#handle-message") (param $ptr i32) (param $len i32) (result i32)
        (local $out i32)
        (local.set $out (call $get_stdout))
        (call $write (local.get $out) (i32.const 16) (i32.const 14) (i32.const 64))
        (call $write (local.get $out) (local.get $ptr) (local.get $len) (i32.const 64))
        (call $write (local.get $out) (i32.const 48) (i32.const 1) (i32.const 64))
        (call $drop_stream (local.get $out))
        (i32.store8 (i32.const 128) (i32.const 0))
        (i32.const 128)))"#
        .replace("@0.2.12", &format!("@{version}"));
    let wit = format!(
        "package test:guests;\nworld mqtt-listener {{\n  import wasi:io/streams@{version};\n  \
         import wasi:cli/stdout@{version};\n  \
         export spin:mqtt-trigger-sdk/inbound-mqtt;\n}}\n"
    );
    encode(&wat, &wit, "mqtt-listener")
}

/// A valid component that exports no HTTP handler.
pub fn not_http() -> Vec<u8> {
    let world = "package test:guests; world plain { export run: func(); }";
    encode(
        r#"(module (memory (export "memory") 1) (func (export "run")))"#,
        world,
        "plain",
    )
}

fn encode(wat: &str, world_wit: &str, world: &str) -> Vec<u8> {
    ComponentEncoder::default()
        .module(&embedded(wat, world_wit, world))
        .expect("module is a valid core module")
        .validate(true)
        .encode()
        .expect("component encodes")
}

/// The core module of `wat` with the world `world` of `world_wit` embedded as its
/// component-type metadata.
fn embedded(wat: &str, world_wit: &str, world: &str) -> Vec<u8> {
    let mut resolve = base_resolve().clone();
    let pkg = resolve
        .push_str("test-guests.wit", world_wit)
        .expect("test world parses");
    let world = resolve
        .select_world(&[pkg], Some(world))
        .expect("world exists");
    let mut module = wat::parse_str(wat).expect("guest WAT parses");
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .expect("metadata embeds");
    module
}

fn base_resolve() -> &'static Resolve {
    static RESOLVE: OnceLock<Resolve> = OnceLock::new();
    RESOLVE.get_or_init(|| {
        let mut resolve = Resolve::default();
        resolve
            .push_dir(wasi_wit_dir())
            .expect("wasmtime-wasi-http WIT parses");
        resolve
            .push_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/wit"))
            .expect("runtime WIT parses");
        resolve
    })
}

/// The `wasi:http` version of the WIT the runtime was built with, e.g. `0.2.12`.
pub fn wasi_version() -> String {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            base_resolve()
                .packages
                .iter()
                .find(|(_, p)| p.name.namespace == "wasi" && p.name.name == "http")
                .and_then(|(_, p)| p.name.version.as_ref())
                .map(|v| v.to_string())
                .expect("wasi:http in the WIT")
        })
        .clone()
}

/// `wit/` of the `wasmtime-wasi-http` package this workspace builds with: its version
/// from `Cargo.lock`, its sources where cargo unpacked them (`$CARGO_HOME/registry/src`).
/// Running `cargo metadata` instead would need every platform's crates downloaded.
fn wasi_wit_dir() -> PathBuf {
    let lock_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path).expect("the workspace Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"wasmtime-wasi-http\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .expect("wasmtime-wasi-http in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let registry = cargo_home.join("registry/src");
    std::fs::read_dir(&registry)
        .unwrap_or_else(|e| panic!("{}: {e}", registry.display()))
        .filter_map(Result::ok)
        .map(|index| {
            index
                .path()
                .join(format!("wasmtime-wasi-http-{version}/wit"))
        })
        .find(|wit| wit.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "wasmtime-wasi-http {version} sources are not under {}; build the workspace first",
                registry.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_encode() {
        for mode in [
            Probe::Echo,
            Probe::Trap,
            Probe::Stream,
            Probe::KeyValue,
            Probe::Hello,
            Probe::HugeLogLine,
            Probe::LogFlood,
        ] {
            assert!(probe("p", mode).starts_with(b"\0asm"));
        }
        assert!(hello().starts_with(b"\0asm"));
        assert!(inbound(false).starts_with(b"\0asm"));
        assert!(inbound(true).starts_with(b"\0asm"));
        assert!(not_http().starts_with(b"\0asm"));
    }
}
