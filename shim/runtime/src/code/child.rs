//! Optimized code is compiled in a child process of the serving binary, which hands
//! the compiled artifact back on its stdout.
//!
//! Cranelift allocates hundreds of MiB compiling a 10–40 MB component; freed, much of
//! it stays behind in the allocator's per-thread arenas, pinned by the few allocations
//! that live on. Compiled in-process, a Python app's server stayed 100–170 MiB idle
//! against ~75 MiB for the same app loaded from the compile cache. In a child, that
//! heap ends with the child, and a server's idle size does not depend on whether it
//! compiled. (The child can compile baseline code too; the server does that itself,
//! see [`crate::code`].)
//!
//! The child is the same executable (`spin-run` or the shim), started with
//! [`COMPILE_ARG`] first; its `main` hands over to [`run_if_requested`] before doing
//! anything else. It reads the Wasm on stdin (at most [`MAX_COMPONENT_BYTES`]), builds
//! the engine with the server's settings, compiles, and writes the serialized
//! component to stdout; the server loads it as it loads a compile cache entry.

// Loading a compiled artifact is `unsafe` in Wasmtime because the bytes are trusted to
// be machine code Wasmtime produced. The only bytes loaded here are those the child —
// this same executable, started by this process — wrote with `Component::serialize`;
// Wasmtime also checks the artifact's header against the running engine. Starting the
// child sets its parent-death signal between fork and exec.
#![allow(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use wasmtime::component::Component;

use crate::code::compile_bytes;
use crate::code::composition::MAX_COMPONENT_BYTES;
use crate::engine::{CodeTier, PoolLimits, SharedEngine};

/// The first argument that makes the binary a compile child.
pub const COMPILE_ARG: &str = "__spin-compile-component";

/// The child's exit status when the Wasm does not compile.
const FAILED: i32 = 3;

/// Why a child gave back no component.
pub(crate) enum ChildFailure {
    /// It could not be started or talked to: compile in-process instead.
    Unavailable(String),
    /// It ran and the compile failed, with this message.
    Compile(String),
}

/// Compiles `wasm` for `engine` in a child process; the serialized component, for the
/// compile cache and [`load`].
pub(crate) fn compile(
    engine: &SharedEngine,
    component: &str,
    wasm: &[u8],
) -> Result<Vec<u8>, ChildFailure> {
    let unavailable =
        |what: &str, e: &dyn std::fmt::Display| ChildFailure::Unavailable(format!("{what}: {e}"));
    let exe =
        std::env::current_exe().map_err(|e| unavailable("cannot find this executable", &e))?;
    let mut command = Command::new(exe);
    command
        .arg(COMPILE_ARG)
        .arg(component)
        .arg(engine.tier.name())
        .arg(engine.limits.instances.to_string())
        .arg(engine.limits.max_memory.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec the child only calls `prctl`, which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            // The child ends with the thread that waits for it (the server's), so a
            // killed server leaves no compile running on the node.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| unavailable("cannot start a compile process", &e))?;
    // The child reads all of its input before it writes anything.
    let mut stdin = child.stdin.take().expect("piped");
    let written = stdin.write_all(wasm);
    drop(stdin);
    let output = child
        .wait_with_output()
        .map_err(|e| unavailable("compile process", &e))?;
    let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
    match (written, output.status.code()) {
        (Ok(()), Some(0)) => {}
        (Ok(()), Some(FAILED)) => return Err(ChildFailure::Compile(message)),
        (written, status) => {
            let input = written
                .err()
                .map_or("input written".into(), |e| e.to_string());
            return Err(ChildFailure::Unavailable(format!(
                "compile process ended with {status:?} ({input}): {message}"
            )));
        }
    }
    Ok(output.stdout)
}

/// Loads what [`compile`] returned.
pub(crate) fn load(engine: &SharedEngine, serialized: &[u8]) -> Result<Component, String> {
    // SAFETY: see the module comment: `compile` only returns the `Component::serialize`
    // output of the child it started.
    unsafe { Component::deserialize(engine.engine(), serialized) }
        .map_err(|e| format!("the compile process's output does not load: {e:#}"))
}

/// In a compile child, compiles and exits; otherwise returns at once.
pub fn run_if_requested() {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_none_or(|first| first != COMPILE_ARG) {
        return;
    }
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    match child_main(&args) {
        Ok(()) => std::process::exit(0),
        Err((status, message)) => {
            eprintln!("{message}");
            std::process::exit(status);
        }
    }
}

fn child_main(args: &[String]) -> Result<(), (i32, String)> {
    let usage = || {
        (
            2,
            format!(
                "usage: {COMPILE_ARG} COMPONENT baseline|optimized INSTANCES MAX_MEMORY < WASM > COMPILED"
            ),
        )
    };
    let [component, tier, instances, max_memory] = args else {
        return Err(usage());
    };
    let tier = match tier.as_str() {
        "baseline" => CodeTier::Baseline,
        "optimized" => CodeTier::Optimized,
        _ => return Err(usage()),
    };
    let limits = PoolLimits {
        instances: instances.parse().map_err(|_| usage())?,
        max_memory: max_memory.parse().map_err(|_| usage())?,
    };
    let mut wasm = Vec::new();
    std::io::stdin()
        .take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut wasm)
        .map_err(|e| (2, format!("reading the Wasm: {e}")))?;
    if wasm.len() as u64 > MAX_COMPONENT_BYTES {
        return Err((
            2,
            format!("the Wasm is larger than {MAX_COMPONENT_BYTES} bytes"),
        ));
    }
    let engine = SharedEngine::new(limits, tier).map_err(|e| (2, e.to_string()))?;
    let compiled = compile_bytes(engine.engine(), component, &wasm).map_err(|e| match e {
        crate::RuntimeError::Compile { detail, .. } => (FAILED, detail),
        other => (FAILED, other.to_string()),
    })?;
    let bytes = compiled
        .serialize()
        .map_err(|e| (2, format!("serializing: {e:#}")))?;
    std::io::stdout()
        .write_all(&bytes)
        .map_err(|e| (2, format!("writing the compiled component: {e}")))
}
