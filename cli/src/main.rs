//! `spin-kube` / `spin kube` / `spin k8s`: push, scaffold, deploy, list, get, logs,
//! connect, delete.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use spin_app::LockedApp;
use spin_kube::cluster::{ClusterArgs, Target};
use spin_kube::error::{ClusterError, invoked_as, set_invoked_as};
use spin_kube::logs::LogOptions;
use spin_kube::output::Format;
use spin_kube::scaffold::{ScaffoldOptions, scaffold, to_yaml};
use spin_kube::{
    address, artifact, connect, delete, deploy, get, list, logs, reference, registry, routes,
};
use spin_registry::Registry;
use spin_registry::credentials;
use spin_registry::package_config::PackageConfig;
use spin_registry::package_source::PackageAccess;
use spin_registry::sources::fetch_sources;

#[derive(Parser)]
#[command(
    name = "spin-kube",
    version,
    about = "Push Spin apps to OCI registries and run them on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push a Spin app to an OCI registry as a Spin OCI artifact.
    Push(PushArgs),
    /// Print a SpinApp manifest (and its Secret / autoscaler) for an image.
    Scaffold {
        /// The app's OCI image reference.
        #[arg(long, short = 'f')]
        from: String,
        /// Write the manifests to this file instead of standard output.
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        #[command(flatten)]
        options: ScaffoldOptions,
    },
    /// Push (unless --from), scaffold and apply a SpinApp, then wait until it is ready.
    Deploy(DeployArgs),
    /// List the SpinApps in a namespace, or in all of them with -A.
    List {
        #[command(flatten)]
        cluster: ClusterArgs,
        /// List the apps of every namespace.
        #[arg(long, short = 'A')]
        all_namespaces: bool,
        /// Print the SpinApps as YAML or JSON instead of a table.
        #[arg(long, short = 'o', value_enum)]
        output: Option<Format>,
    },
    /// Show an app: image, replicas, conditions, address and recent warnings.
    Get {
        /// The SpinApp's name.
        name: String,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Print the SpinApp as YAML or JSON instead.
        #[arg(long, short = 'o', value_enum)]
        output: Option<Format>,
    },
    /// Print the logs of an app's pods, each line prefixed with its pod.
    Logs {
        /// The SpinApp's name.
        name: String,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        options: LogOptions,
    },
    /// Forward a local port to a ready pod of the app and print the URL to use.
    Connect {
        /// The SpinApp's name.
        name: String,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Local port on 127.0.0.1; a free one when 0.
        #[arg(long, short = 'p', default_value_t = 0)]
        port: u16,
    },
    /// Delete an app, with the Secret and autoscaler `deploy` applied for it.
    Delete {
        /// The SpinApp's name.
        name: String,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(clap::Args)]
struct PushArgs {
    /// Where to push: REGISTRY/REPOSITORY:TAG.
    reference: String,
    #[command(flatten)]
    source: PushSource,
}

#[derive(clap::Args)]
struct PushSource {
    /// The app's spin.toml, or its directory.
    #[arg(long = "file", short = 'F', alias = "from-file", default_value = ".")]
    file: PathBuf,
    /// Talk plain HTTP to the registry (one without TLS). Registries on loopback
    /// (localhost, 127.0.0.0/8, [::1]) get plain HTTP without it, as Docker does.
    #[arg(long, env = "SPIN_KUBE_INSECURE")]
    insecure: bool,
    /// Docker config file with registry credentials.
    #[arg(long, env = "DOCKER_CONFIG_FILE")]
    docker_config: Option<PathBuf>,
}

#[derive(clap::Args)]
#[group(id = "image", required = true, multiple = false, args = ["from", "push_to"])]
struct DeployArgs {
    /// Deploy this image as it is in its registry.
    #[arg(long, short = 'f')]
    from: Option<String>,
    /// Push the local app here first (REGISTRY/REPOSITORY:TAG), then deploy it by digest.
    #[arg(long)]
    push_to: Option<String>,
    #[command(flatten)]
    source: PushSource,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Print what would be applied, touch nothing.
    #[arg(long)]
    dry_run: bool,
    /// Seconds to wait for the SpinApp to become ready.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Once the app is ready, follow its pods' logs until interrupted.
    #[arg(long)]
    watch_logs: bool,
    #[command(flatten)]
    options: ScaffoldOptions,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}`: the error and its causes on one line, no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The names the Spin plugin is installed under (`cli/package-plugin.sh`), and how
/// users type them.
const PLUGIN_NAMES: [(&str, &str); 2] = [("kube", "spin kube"), ("k8s", "spin k8s")];

async fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut command = Cli::command();
    // Spin runs plugins as `<plugin dir>/<name>`, and this one is packaged under two
    // names (`kube`, as SpinKube names its plugin, and `k8s`): show the name typed.
    let invoked = std::env::args_os()
        .next()
        .and_then(|a| PathBuf::from(a).file_name().map(|n| n.to_owned()));
    if let Some((_, shown)) = PLUGIN_NAMES
        .iter()
        .find(|(name, _)| invoked.as_deref().is_some_and(|n| n == *name))
    {
        command = command.name(*shown).bin_name(*shown);
        set_invoked_as(shown);
    } else {
        set_invoked_as("spin-kube");
    }
    let cli = Cli::from_arg_matches(&command.get_matches())?;
    match cli.command {
        Command::Push(args) => {
            let (pushed, _) = push(&args.reference, &args.source).await?;
            println!("{}", pushed.reference);
        }
        Command::Scaffold { from, out, options } => {
            let yaml = to_yaml(&scaffold(&from, &options)?);
            match out {
                Some(path) => {
                    std::fs::write(&path, yaml)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("SpinApp manifest written to {}", path.display());
                }
                None => print!("{yaml}"),
            }
        }
        Command::Deploy(args) => deploy_app(args).await?,
        Command::List {
            cluster,
            all_namespaces,
            output,
        } => {
            let target = cluster.target().await?;
            let apps = list::list(&target, all_namespaces).await?;
            match output {
                Some(format) => print!(
                    "{}",
                    spin_kube::output::render(
                        &serde_json::json!({"apiVersion": "v1", "kind": "List", "items": apps}),
                        format
                    )
                ),
                None if apps.is_empty() => {
                    let scope = if all_namespaces {
                        "any namespace".to_string()
                    } else {
                        format!("namespace {}", target.namespace)
                    };
                    eprintln!("No SpinApps in {scope}.");
                }
                None => print!(
                    "{}",
                    list::render(&apps, all_namespaces, jiff::Timestamp::now())
                ),
            }
        }
        Command::Get {
            name,
            cluster,
            output,
        } => {
            let target = cluster.target().await?;
            match output {
                Some(format) => {
                    let app = get::fetch_app(&target, &name).await?;
                    print!("{}", spin_kube::output::render(&app, format));
                }
                None => {
                    let report = get::report(&target, &name).await?;
                    print!("{}", get::render(&report, jiff::Timestamp::now()));
                }
            }
        }
        Command::Logs {
            name,
            cluster,
            options,
        } => {
            let target = cluster.target().await?;
            let pods = logs::app_pods(&target, &name).await?;
            until_interrupted(logs::print(&target, &pods, &options, print_line)).await?;
        }
        Command::Connect {
            name,
            cluster,
            port,
        } => {
            let target = cluster.target().await?;
            let forward = connect::choose(&target, &name).await?;
            let addr = format!("127.0.0.1:{port}");
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|source| ClusterError::Listen { addr, source })?;
            let local = listener.local_addr()?;
            eprintln!(
                "Forwarding to pod {} port {} of SpinApp {}/{name}; Ctrl-C stops",
                forward.pod, forward.port, target.namespace
            );
            println!("http://{local}");
            until_interrupted(connect::serve(target, forward, listener, |e| {
                eprintln!("error: {e}")
            }))
            .await?;
        }
        Command::Delete { name, cluster, yes } => {
            let target = cluster.target().await?;
            let plan = delete::plan(&target, &name).await?;
            let description = plan.describe(&target.namespace);
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(ClusterError::NotConfirmed {
                        namespace: target.namespace,
                        name,
                    }
                    .into());
                }
                eprint!("Delete {description}? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("Nothing deleted.");
                    return Ok(());
                }
            }
            delete::execute(&target, &plan).await?;
            print!("Deleted {description}");
        }
    }
    Ok(())
}

/// Prints one line to standard output at once (log lines arrive from several pods).
fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs `work` until it ends or the user presses Ctrl-C (which is not an error).
async fn until_interrupted(
    work: impl Future<Output = Result<(), ClusterError>>,
) -> Result<(), ClusterError> {
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Where fetched remote component sources are kept: the blob cache `spin-run` uses
/// (`~/.cache/spin-kube/registry/blobs`), else a directory under the system's temp.
fn remote_source_cache() -> PathBuf {
    spin_app::user_cache_root()
        .unwrap_or_else(|| std::env::temp_dir().join("spin-kube"))
        .join("registry/blobs")
}

/// Pushes the app at `source` to `target`; returns what was pushed and its locked app.
async fn push(target: &str, source: &PushSource) -> Result<(registry::Pushed, LockedApp)> {
    let reference = reference::parse(target)?;
    let created = jiff::Timestamp::now().to_string();
    // Remote component sources are fetched (once, into the user's cache) and pushed as
    // layers, as `spin registry push` does.
    let manifest = artifact::manifest_of(&source.file)?;
    let packages = PackageAccess {
        insecure: source.insecure,
        docker_configs: vec![docker_config_path(source)],
        config: PackageConfig::from_user_config()?,
    };
    let fetched = fetch_sources(&manifest, &remote_source_cache(), &packages).await?;
    let artifact = artifact::assemble_from(&manifest, &fetched, &created)?;
    let registry = registry_access(source, &reference)?;
    let pushed = registry::push(&artifact, &reference, &registry).await?;
    eprintln!(
        "Pushed {} ({} blobs uploaded, {} already in the registry)",
        pushed.reference, pushed.uploaded, pushed.already_present
    );
    Ok((pushed, artifact.locked))
}

/// How to reach the registry of `reference`: the flags and the Docker config's credentials.
fn registry_access(source: &PushSource, reference: &reference::Reference) -> Result<Registry> {
    let config = docker_config_path(source);
    let auth = credentials::registry_auth(&config, reference.registry())?;
    Ok(Registry {
        insecure: source.insecure,
        auth,
        auth_source: config.display().to_string(),
    })
}

/// The Docker config holding registry credentials: `--docker-config`, else Docker's.
fn docker_config_path(source: &PushSource) -> PathBuf {
    source
        .docker_config
        .clone()
        .unwrap_or_else(credentials::default_path)
}

async fn deploy_app(args: DeployArgs) -> Result<()> {
    let (image, locked) = match (&args.from, &args.push_to) {
        (Some(image), _) => (image.clone(), None),
        (None, Some(target)) => {
            let (pushed, locked) = push(target, &args.source).await?;
            (pushed.reference, Some(locked))
        }
        (None, None) => unreachable!("clap requires --from or --push-to"),
    };
    let docs = scaffold(&image, &args.options)?;
    if args.dry_run {
        print!("{}", to_yaml(&docs));
        return Ok(());
    }
    let target = args.cluster.target().await?;
    deploy::apply(&target, &docs).await?;
    let name = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("SpinApp"))
        .and_then(|d| d["metadata"]["name"].as_str())
        .expect("scaffold always yields a SpinApp")
        .to_string();
    let namespace = target.namespace.clone();
    eprintln!("Applied SpinApp {namespace}/{name}; waiting for it to become ready");
    deploy::wait_ready(&target, &name, Duration::from_secs(args.timeout), |line| {
        eprintln!("  {line}");
        let _ = std::io::stderr().flush();
    })
    .await?;
    let locked = match locked {
        Some(locked) => Ok(locked),
        None => locked_app_of(&image, &args.source).await,
    };
    print!("{}", ready_banner(&target, &name, locked).await?);
    if args.watch_logs {
        let pods = logs::app_pods(&target, &name).await?;
        let follow = LogOptions {
            follow: true,
            ..LogOptions::default()
        };
        until_interrupted(logs::print(&target, &pods, &follow, print_line)).await?;
    }
    Ok(())
}

/// The locked app of a deployed image, read from its registry.
async fn locked_app_of(image: &str, source: &PushSource) -> Result<LockedApp> {
    let reference = reference::parse(image)?;
    let registry = registry_access(source, &reference)?;
    Ok(spin_registry::pull::locked_app(&reference, &registry)
        .await
        .map_err(spin_kube::error::PushError::from)?)
}

/// Where the ready app answers, its routes there, and how to reach it from here.
async fn ready_banner(
    target: &Target,
    name: &str,
    locked: Result<LockedApp>,
) -> Result<String, ClusterError> {
    let namespace = &target.namespace;
    let Some(service) = address::service(target, name).await? else {
        return Ok(format!(
            "SpinApp {namespace}/{name} is ready, without a Service\n"
        ));
    };
    let address = address::of(&service);
    let mut out = format!("SpinApp {namespace}/{name} is ready at {address}\n");
    match locked {
        Ok(app) => {
            out.push_str("Available Routes:\n");
            for route in routes::listing(&app, &address.url) {
                out.push_str(&format!("  {route}\n"));
            }
        }
        Err(e) => out.push_str(&format!("Routes not shown: {e:#}\n")),
    }
    out.push_str(&format!(
        "From this machine: {} connect {name} -n {namespace}\n",
        invoked_as()
    ));
    Ok(out)
}
