//! HTTP benchmark: the same hello-world component served by our runtime (`spin-run`)
//! and by `wasmtime serve`, and a native hyper server, each under the same `wrk` load
//! on loopback; then the Python SDK samples, WASI 0.2 (spin-sdk 3.4.1) and WASIp3
//! (spin-sdk 5, fresh instance per request and with Spin's instance reuse), which
//! `wasmtime serve` cannot run (they import Spin's interfaces). Prints requests/s,
//! p50/p99 latency, CPU time per request (instantiation included), time from process
//! start to the first 200, RSS after 10,000 requests, and the ratios against the peers.
//! The SDK apps are measured both without and with `RUST_BACKTRACE=1` (set for every
//! server of the row alike), as a user's shell or a pod's env may set it.
//!
//! Run through `e2e/bench-http.sh`, which builds and installs the contenders.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Our server as shipped (the `dist` profile).
    #[arg(long)]
    spin_run: PathBuf,
    /// The same built with the `release` profile (what the tests run), to show what the
    /// `dist` profile's whole-program optimization gives.
    #[arg(long)]
    spin_run_release: Option<PathBuf>,
    #[arg(long)]
    wasmtime: PathBuf,
    #[arg(long)]
    native: PathBuf,
    /// Seconds of load per contender.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 8)]
    connections: u32,
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// The Python SDK 3.4.1 sample (WASI 0.2), built.
    #[arg(long)]
    python_p2: Option<PathBuf>,
    /// The Python SDK 5 sample (WASIp3), built.
    #[arg(long)]
    python_p3: Option<PathBuf>,
    /// The JavaScript sample (`@spinframework/build-tools`), built.
    #[arg(long)]
    js: Option<PathBuf>,
}

#[derive(Debug)]
struct Result {
    name: &'static str,
    start_ms: f64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    rss_mib: f64,
    /// Server CPU time (user + system) per request under load.
    cpu_us: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let work = tempfile::tempdir()?;
    let wasm = work.path().join("hello.wasm");
    std::fs::write(&wasm, test_guests::hello())?;
    let manifest = work.path().join("spin.toml");
    std::fs::write(
        &manifest,
        "spin_manifest_version = 2\n[application]\nname = \"hello\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n",
    )?;
    let cache = work.path().join("cache");

    let spin = |extra: &[&str]| {
        let mut c = Command::new(&args.spin_run);
        c.arg("--from")
            .arg(&manifest)
            .arg("--cache-dir")
            .arg(&cache)
            .args(extra);
        c.env("RUST_LOG", "warn");
        c
    };
    let mut results = Vec::new();
    // Cold: compiles the component; warm: loads it from the compile cache.
    results.push(measure("spin-run (cold)", &args, |addr| {
        let mut c = spin(&["--no-cache", "--listen", &addr.to_string()]);
        c.stdout(Stdio::null());
        c
    })?);
    // Fill the compile cache, so the next run measures a warm start.
    {
        let addr = free_addr()?;
        let mut c = spin(&["--listen", &addr.to_string()]);
        c.stdout(Stdio::null());
        drop(Killed(start_and_wait(&mut c, addr)?.0));
    }
    results.push(measure("spin-run", &args, |addr| {
        let mut c = spin(&["--listen", &addr.to_string()]);
        c.stdout(Stdio::null());
        c
    })?);
    // The same with traces on, exported over OTLP/HTTP to a receiver in this process
    // (a collector on the same node): two spans per request.
    let telemetry = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let receiver = telemetry.block_on(spin_kube_e2e::otlp::OtlpReceiver::start())?;
    results.push(measure("spin-run traced", &args, |addr| {
        let mut c = spin(&["--listen", &addr.to_string()]);
        c.env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.http_endpoint)
            .env("OTEL_METRICS_EXPORTER", "none")
            .stdout(Stdio::null());
        c
    })?);
    let spans_received = receiver.span_count();
    // Metrics only: a counter and two histograms per request, exported every second.
    results.push(measure("spin-run metrics", &args, |addr| {
        let mut c = spin(&["--listen", &addr.to_string()]);
        c.env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.http_endpoint)
            .env("OTEL_TRACES_EXPORTER", "none")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "1000")
            .stdout(Stdio::null());
        c
    })?);
    let points_received = receiver.points().len();
    if let Some(release) = &args.spin_run_release {
        results.push(measure("spin-run (release profile)", &args, |addr| {
            let mut c = Command::new(release);
            c.arg("--from")
                .arg(&manifest)
                .arg("--cache-dir")
                .arg(&cache)
                .args(["--listen", &addr.to_string()])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null());
            c
        })?);
    }
    results.push(measure("wasmtime serve", &args, |addr| {
        let mut c = Command::new(&args.wasmtime);
        c.args(["serve", "--addr", &addr.to_string()]).arg(&wasm);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    })?);
    results.push(measure("wasmtime serve -O pooling", &args, |addr| {
        let mut c = Command::new(&args.wasmtime);
        c.args([
            "serve",
            "-O",
            "pooling-allocator=y",
            "--addr",
            &addr.to_string(),
        ])
        .arg(&wasm);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    })?);
    results.push(measure("native hyper", &args, |addr| {
        let mut c = Command::new(&args.native);
        c.arg(addr.to_string()).stdout(Stdio::null());
        c
    })?);

    let mut sdk_results = Vec::new();
    let python = |dir: &PathBuf, extra: &[&str], addr: SocketAddr| {
        let mut c = Command::new(&args.spin_run);
        c.arg("--from")
            .arg(dir)
            .arg("--cache-dir")
            .arg(&cache)
            .arg("--state-dir")
            .arg(work.path().join("state"))
            .args(["--listen", &addr.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        c
    };
    // Compile both first (and wait for the optimized code), so no row measures a
    // background compile; first starts are measured in `sdk_apps`.
    for dir in [&args.python_p2, &args.python_p3].into_iter().flatten() {
        start_idle(
            |addr| {
                let mut c = python(dir, &[], addr);
                c.env("RUST_LOG", "info");
                c
            },
            true,
        )?;
    }
    if let Some(dir) = &args.python_p2 {
        sdk_results.push(measure("python sdk 3.4.1 (p2)", &args, |addr| {
            python(dir, &[], addr)
        })?);
    }
    if let Some(dir) = &args.python_p3 {
        sdk_results.push(measure("python sdk 5 (p3)", &args, |addr| {
            python(dir, &[], addr)
        })?);
        sdk_results.push(measure("python sdk 5 (p3) traced", &args, |addr| {
            let mut c = python(dir, &[], addr);
            c.env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.http_endpoint)
                .env("OTEL_METRICS_EXPORTER", "none");
            c
        })?);
        sdk_results.push(measure("python sdk 5 (p3) reuse", &args, |addr| {
            python(
                dir,
                &[
                    "--max-instance-reuse-count",
                    "128",
                    "--max-instance-concurrent-reuse-count",
                    "16",
                ],
                addr,
            )
        })?);
    }

    println!();
    println!(
        "load: wrk -t{} -c{} -d{}s on loopback, {} cores; component: hello-world (wasi:http 0.2)",
        args.threads,
        args.connections,
        args.duration,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    print_table(&results);
    let find = |n: &str| results.iter().find(|r| r.name == n).expect("measured");
    let (ours, cold, wt, native) = (
        find("spin-run"),
        find("spin-run (cold)"),
        find("wasmtime serve"),
        find("native hyper"),
    );
    println!();
    let wt_pool = find("wasmtime serve -O pooling");
    println!(
        "throughput  ours/wasmtime-serve = {:.2}x   ours/wasmtime-serve-pooling = {:.2}x   ours/native = {:.2}x",
        ours.rps / wt.rps,
        ours.rps / wt_pool.rps,
        ours.rps / native.rps
    );
    if let Some(release) = results
        .iter()
        .find(|r| r.name == "spin-run (release profile)")
    {
        println!(
            "            ours (release profile)/wasmtime-serve-pooling = {:.2}x   dist/release profile = {:.2}x",
            release.rps / wt_pool.rps,
            ours.rps / release.rps
        );
    }
    let traced = find("spin-run traced");
    println!(
        "tracing     traced/untraced throughput = {:.2}x   CPU per request {:+.1} µs   p99 {:+.2} ms   spans received {spans_received}",
        traced.rps / ours.rps,
        traced.cpu_us - ours.cpu_us,
        traced.p99_ms - ours.p99_ms,
    );
    let metrics = find("spin-run metrics");
    println!(
        "metrics     metrics/untraced throughput = {:.2}x   CPU per request {:+.1} µs   p99 {:+.2} ms   data points received {points_received}",
        metrics.rps / ours.rps,
        metrics.cpu_us - ours.cpu_us,
        metrics.p99_ms - ours.p99_ms,
    );
    println!(
        "p99 latency ours/wasmtime-serve = {:.2}x   ours/wasmtime-serve-pooling = {:.2}x   ours/native = {:.2}x",
        ours.p99_ms / wt.p99_ms,
        ours.p99_ms / wt_pool.p99_ms,
        ours.p99_ms / native.p99_ms
    );
    println!(
        "start→200   ours warm/wasmtime-serve = {:.2}x   ours cold/wasmtime-serve = {:.2}x",
        ours.start_ms / wt.start_ms,
        cold.start_ms / wt.start_ms
    );
    println!(
        "RSS         ours/wasmtime-serve = {:.2}x",
        ours.rss_mib / wt.rss_mib
    );
    if !sdk_results.is_empty() {
        println!();
        println!("Python SDK samples on spin-run (`wasmtime serve` cannot run them: Spin imports)");
        print_table(&sdk_results);
        let find = |n: &str| sdk_results.iter().find(|r| r.name == n);
        if let (Some(p2), Some(p3), Some(reuse)) = (
            find("python sdk 3.4.1 (p2)"),
            find("python sdk 5 (p3)"),
            find("python sdk 5 (p3) reuse"),
        ) {
            println!(
                "throughput  p3/p2 = {:.2}x   p3 reuse/p3 fresh = {:.2}x   CPU per request p3/p2 = {:.2}x",
                p3.rps / p2.rps,
                reuse.rps / p3.rps,
                p3.cpu_us / p2.cpu_us
            );
        }
        if let (Some(p3), Some(traced)) =
            (find("python sdk 5 (p3)"), find("python sdk 5 (p3) traced"))
        {
            println!(
                "tracing     p3 traced/untraced throughput = {:.2}x   CPU per request {:+.1} µs",
                traced.rps / p3.rps,
                traced.cpu_us - p3.cpu_us
            );
        }
    }
    sdk_apps(&args, work.path())
}

/// Figures spin-run had on this 2-core machine on 2026-11-26, before instance memory
/// was kept resident and before baseline code served first starts.
struct Reference {
    rps: f64,
    p99_ms: f64,
    /// wasmtime serve -O pooling-allocator=y in that run, where it can run the app.
    wasmtime_rps: Option<f64>,
    cold_start_s: f64,
    idle_rss_cold_mib: Option<f64>,
    idle_rss_warm_mib: Option<f64>,
}

/// An SDK-built sample app.
struct SdkApp<'a> {
    name: &'static str,
    dir: &'a PathBuf,
    /// Its Wasm, when `wasmtime serve` can run it (no Spin imports).
    wasmtime_wasm: Option<PathBuf>,
    reference: Reference,
}

/// Start-up of one app: time to the first 200 and RSS once idle.
struct Started {
    start_ms: f64,
    idle_rss_mib: f64,
}

/// The SDK samples end to end: a first start with an empty compile cache (start→200,
/// then idle RSS once the optimized code has replaced the baseline code), a start from
/// the cache (start→200, idle RSS), and throughput under the same load as above, each
/// against `wasmtime serve` where it can run the app and against the reference figures.
fn sdk_apps(args: &Args, work: &std::path::Path) -> anyhow::Result<()> {
    let mut apps = Vec::new();
    if let Some(dir) = &args.js {
        apps.push(SdkApp {
            name: "js hello",
            dir,
            wasmtime_wasm: Some(dir.join("app.wasm")),
            reference: Reference {
                rps: 887.0,
                p99_ms: 17.8,
                wasmtime_rps: Some(757.0),
                cold_start_s: 5.3,
                idle_rss_cold_mib: Some(335.0),
                idle_rss_warm_mib: None,
            },
        });
    }
    for (dir, name, reference) in [
        (
            &args.python_p2,
            "python sdk 3.4.1",
            Reference {
                rps: 228.0,
                p99_ms: 63.2,
                wasmtime_rps: None,
                cold_start_s: 6.6,
                idle_rss_cold_mib: Some(359.0),
                idle_rss_warm_mib: Some(51.0),
            },
        ),
        (
            &args.python_p3,
            "python sdk 5",
            Reference {
                rps: 261.0,
                p99_ms: 52.2,
                wasmtime_rps: None,
                cold_start_s: 4.6,
                idle_rss_cold_mib: None,
                idle_rss_warm_mib: None,
            },
        ),
    ] {
        if let Some(dir) = dir {
            apps.push(SdkApp {
                name,
                dir,
                wasmtime_wasm: None,
                reference,
            });
        }
    }
    if apps.is_empty() {
        return Ok(());
    }
    println!();
    println!(
        "SDK-built apps: start→200 and idle RSS with an empty compile cache (cold) and from it (warm); load as above"
    );
    println!(
        "{:<18} {:<28} {:>8} {:>8} {:>8} {:>11} {:>11} {:>10} {:>10}",
        "app",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "cold start",
        "warm start",
        "RSS cold",
        "RSS warm"
    );
    let mut verdicts = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let cache = work.join(format!("sdk-cache-{i}"));
        let spin = |extra: &[&str], addr: SocketAddr, log: &str| {
            let mut c = Command::new(&args.spin_run);
            c.arg("--from")
                .arg(app.dir)
                .arg("--cache-dir")
                .arg(&cache)
                .arg("--state-dir")
                .arg(work.join(format!("sdk-state-{i}")))
                .args(["--listen", &addr.to_string()])
                .args(extra)
                .env("RUST_LOG", log)
                .stdout(Stdio::null());
            c
        };
        let cold = start_idle(|addr| spin(&[], addr, "info"), true)?;
        let warm = start_idle(|addr| spin(&[], addr, "info"), false)?;
        let (ours, ours_bt) =
            measure_both(["spin-run", "spin-run RUST_BACKTRACE=1"], args, |addr| {
                spin(&[], addr, "warn")
            })?;
        println!(
            "{:<18} {:<28} {:>8.0} {:>8.2} {:>8.2} {:>9.2} s {:>9.3} s {:>6.0} MiB {:>6.0} MiB",
            app.name,
            "spin-run",
            ours.rps,
            ours.p50_ms,
            ours.p99_ms,
            cold.start_ms / 1000.0,
            warm.start_ms / 1000.0,
            cold.idle_rss_mib,
            warm.idle_rss_mib
        );
        print_sdk_row(&ours_bt);
        let r = &app.reference;
        let mib = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0} MiB"));
        println!(
            "{:<18} {:<28} {:>8.0} {:>8} {:>8.2} {:>9.2} s {:>11} {:>10} {:>10}",
            "",
            "reference (2026-11-26)",
            r.rps,
            "",
            r.p99_ms,
            r.cold_start_s,
            "",
            mib(r.idle_rss_cold_mib),
            mib(r.idle_rss_warm_mib)
        );
        let mut verdict = format!(
            "{}: vs reference {:.2}x req/s; first start {:.2} s; idle RSS cold/warm {:.2}x; \
             RUST_BACKTRACE=1/unset {:.2}x req/s",
            app.name,
            ours.rps / r.rps,
            cold.start_ms / 1000.0,
            cold.idle_rss_mib / warm.idle_rss_mib,
            ours_bt.rps / ours.rps
        );
        if let Some(wasm) = &app.wasmtime_wasm {
            let wasmtime = |addr: SocketAddr| {
                let mut c = Command::new(&args.wasmtime);
                c.args([
                    "serve",
                    "-O",
                    "pooling-allocator=y",
                    "-S",
                    "cli=y",
                    "--addr",
                    &addr.to_string(),
                ])
                .arg(wasm);
                c.stdout(Stdio::null()).stderr(Stdio::null());
                c
            };
            let (wt, wt_bt) = measure_both(
                [
                    "wasmtime serve -O pooling",
                    "wasmtime serve RUST_BACKTRACE=1",
                ],
                args,
                wasmtime,
            )?;
            print_sdk_row(&wt);
            print_sdk_row(&wt_bt);
            verdict += &format!(
                "; vs wasmtime serve -O pooling {:.2}x req/s, p99 {:.2}x; \
                 both with RUST_BACKTRACE=1 {:.2}x",
                ours.rps / wt.rps,
                ours.p99_ms / wt.p99_ms,
                ours_bt.rps / wt_bt.rps
            );
            if let Some(before) = r.wasmtime_rps {
                verdict += &format!(" (reference: {:.2}x)", r.rps / before);
            }
            // Release build against release build (`wasmtime-cli` is built with the
            // `release` profile), in both environments.
            if let Some(release) = &args.spin_run_release {
                let ours_release = |addr: SocketAddr| {
                    let ours = spin(&[], addr, "warn");
                    let mut r = Command::new(release);
                    r.args(ours.get_args());
                    r.env("RUST_LOG", "warn").stdout(Stdio::null());
                    r
                };
                let (rel, rel_bt) = measure_both(
                    [
                        "spin-run (release profile)",
                        "spin-run (release) RUST_BACKTRACE=1",
                    ],
                    args,
                    ours_release,
                )?;
                print_sdk_row(&rel);
                print_sdk_row(&rel_bt);
                verdict += &format!(
                    "; release/release vs wasmtime serve {:.2}x, both with RUST_BACKTRACE=1 {:.2}x",
                    rel.rps / wt.rps,
                    rel_bt.rps / wt_bt.rps
                );
            }
        }
        verdicts.push(verdict);
    }
    println!();
    for v in verdicts {
        println!("{v}");
    }
    Ok(())
}

/// Starts a server, times its first 200, then reads its RSS once idle: for a `cold`
/// start, after its log says the optimized code serves (the background compile done).
fn start_idle(cmd: impl Fn(SocketAddr) -> Command, cold: bool) -> anyhow::Result<Started> {
    let addr = free_addr()?;
    let mut command = cmd(addr);
    command.stderr(Stdio::piped());
    let (mut child, start) = start_and_wait(&mut command, addr)?;
    let stderr = child.stderr.take().context("server stderr")?;
    let child = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if line.contains("optimized code now serves") {
                let _ = tx.send(());
            }
        }
    });
    if cold {
        rx.recv_timeout(Duration::from_secs(120))
            .context("the optimized code did not replace the baseline code within 120 s")?;
        // As the warm start's first request did, one request runs on optimized code.
        anyhow::ensure!(get_status(addr)? == 200, "no 200 from the optimized code");
    }
    // Idle: let the last request's instance and any compile threads settle.
    std::thread::sleep(Duration::from_secs(2));
    Ok(Started {
        start_ms: start.as_secs_f64() * 1000.0,
        idle_rss_mib: rss_mib(child.0.id())?,
    })
}

fn print_table(results: &[Result]) {
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>12} {:>14} {:>14}",
        "server", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "start→200 ms", "RSS MiB @10k"
    );
    for r in results {
        println!(
            "{:<26} {:>10.0} {:>10.3} {:>10.3} {:>12.0} {:>14.1} {:>14.1}",
            r.name, r.rps, r.p50_ms, r.p99_ms, r.cpu_us, r.start_ms, r.rss_mib
        );
    }
}

/// User + system CPU time of a process so far, in microseconds.
fn cpu_us(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("/proc/PID/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // Linux reports it in clock ticks of 1/100 s (USER_HZ).
    Ok(ticks * 10_000.0)
}

struct Killed(Child);

impl Drop for Killed {
    /// SIGTERM first, so a server cleans up after itself (`spin-run` removes its work
    /// directory); SIGKILL if it has not exited within 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Measures a server twice: without `RUST_BACKTRACE`, then with `RUST_BACKTRACE=1`, as
/// a user's shell or a pod's env may set it.
fn measure_both(
    names: [&'static str; 2],
    args: &Args,
    cmd: impl Fn(SocketAddr) -> Command,
) -> anyhow::Result<(Result, Result)> {
    let without = measure(names[0], args, &cmd)?;
    let with = measure(names[1], args, |addr| {
        let mut c = cmd(addr);
        c.env("RUST_BACKTRACE", "1");
        c
    })?;
    Ok((without, with))
}

/// One more server's row under an SDK app in the SDK table.
fn print_sdk_row(row: &Result) {
    println!(
        "{:<18} {:<28} {:>8.0} {:>8.2} {:>8.2}",
        "", row.name, row.rps, row.p50_ms, row.p99_ms
    );
}

/// Spawns the server and polls until it answers 200; returns the time that took.
/// A server runs without the shell's `RUST_BACKTRACE`/`RUST_LIB_BACKTRACE` unless the
/// command sets them ([`measure_both`]), so every row says which it measured.
fn start_and_wait(cmd: &mut Command, addr: SocketAddr) -> anyhow::Result<(Child, Duration)> {
    let started = Instant::now();
    if !cmd.get_envs().any(|(k, _)| k == "RUST_BACKTRACE") {
        cmd.env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
    }
    let mut child = cmd.spawn().context("spawning server")?;
    loop {
        if let Ok(200) = get_status(addr) {
            return Ok((child, started.elapsed()));
        }
        if let Some(status) = child.try_wait()? {
            bail!("server exited with {status} before answering");
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            bail!("server did not answer within 120 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn get_status(addr: SocketAddr) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(b"GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

/// Exactly `total` requests over `conns` keep-alive connections.
fn warm_up(addr: SocketAddr, total: u32, conns: u32) -> anyhow::Result<()> {
    let per = total / conns;
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut s = TcpStream::connect(addr)?;
                s.set_nodelay(true)?;
                let mut reader = BufReader::new(s.try_clone()?);
                for _ in 0..per {
                    s.write_all(b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n")?;
                    let mut len = 0usize;
                    let mut chunked = false;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line)?;
                        let l = line.trim_end().to_ascii_lowercase();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        chunked |= l.starts_with("transfer-encoding:") && l.contains("chunked");
                    }
                    if chunked {
                        loop {
                            let mut size = String::new();
                            reader.read_line(&mut size)?;
                            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                            let mut buf = vec![0; n + 2];
                            reader.read_exact(&mut buf)?;
                            if n == 0 {
                                break;
                            }
                        }
                    } else {
                        let mut buf = vec![0; len];
                        reader.read_exact(&mut buf)?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().expect("warm-up thread")?;
    }
    Ok(())
}

fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")?;
    Ok(kb / 1024.0)
}

fn measure(
    name: &'static str,
    args: &Args,
    cmd: impl Fn(SocketAddr) -> Command,
) -> anyhow::Result<Result> {
    let addr = free_addr()?;
    let (child, start) =
        start_and_wait(&mut cmd(addr), addr).with_context(|| format!("starting {name}"))?;
    let child = Killed(child);
    warm_up(addr, 10_000, args.connections)?;
    let rss = rss_mib(child.0.id())?;
    let cpu_before = cpu_us(child.0.id())?;
    let out = Command::new("wrk")
        .args([
            format!("-t{}", args.threads),
            format!("-c{}", args.connections),
            format!("-d{}s", args.duration),
            "--latency".into(),
            format!("http://{addr}/"),
        ])
        .output()
        .context("running wrk (apt-get install wrk)")?;
    let cpu = cpu_us(child.0.id())? - cpu_before;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("wrk output for {name}:\n{text}"))?;
    let percentile = |p: &str| -> anyhow::Result<f64> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(p))
            .with_context(|| format!("no {p} latency in wrk output"))?;
        parse_duration_ms(line.split_whitespace().nth(1).unwrap_or_default())
    };
    let errors = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
    if let Some(e) = errors {
        eprintln!("warning: {name}: {}", e.trim());
    }
    let result = Result {
        name,
        start_ms: start.as_secs_f64() * 1000.0,
        rps,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
        rss_mib: rss,
        cpu_us: cpu / (rps * args.duration as f64).max(1.0),
    };
    eprintln!("{name}: {result:?}");
    Ok(result)
}

/// wrk prints latencies like `412.00us`, `1.23ms`, `2.00s`.
fn parse_duration_ms(text: &str) -> anyhow::Result<f64> {
    let (num, unit) = text
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| text.split_at(i))
        .context("latency without unit")?;
    let n: f64 = num.parse()?;
    Ok(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        other => bail!("unknown latency unit {other}"),
    })
}
