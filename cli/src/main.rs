//! `spin-kube` / `spin kube`: push, scaffold, deploy.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use spin_kube::registry::Registry;
use spin_kube::scaffold::{ScaffoldOptions, scaffold, to_yaml};
use spin_kube::{artifact, deploy, docker_auth, reference, registry};

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
    /// Talk plain HTTP to the registry (a local registry without TLS).
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
    /// Namespace to deploy to; the kubeconfig context's when unset.
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// Print what would be applied, touch nothing.
    #[arg(long)]
    dry_run: bool,
    /// Seconds to wait for the SpinApp to become ready.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
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
    }
    let cli = Cli::from_arg_matches(&command.get_matches())?;
    match cli.command {
        Command::Push(args) => {
            let pushed = push(&args.reference, &args.source).await?;
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
    }
    Ok(())
}

async fn push(target: &str, source: &PushSource) -> Result<registry::Pushed> {
    let reference = reference::parse(target)?;
    let created = jiff::Timestamp::now().to_string();
    let artifact = artifact::assemble_from(&source.file, &created)?;
    let config = source
        .docker_config
        .clone()
        .unwrap_or_else(docker_auth::default_path);
    let auth = docker_auth::registry_auth(&config, reference.registry())?;
    let registry = Registry {
        insecure: source.insecure,
        auth,
        auth_source: config.display().to_string(),
    };
    let pushed = registry::push(&artifact, &reference, &registry).await?;
    eprintln!(
        "Pushed {} ({} blobs uploaded, {} already in the registry)",
        pushed.reference, pushed.uploaded, pushed.already_present
    );
    Ok(pushed)
}

async fn deploy_app(args: DeployArgs) -> Result<()> {
    let image = match (&args.from, &args.push_to) {
        (Some(image), _) => image.clone(),
        (None, Some(target)) => push(target, &args.source).await?.reference,
        (None, None) => unreachable!("clap requires --from or --push-to"),
    };
    let docs = scaffold(&image, &args.options)?;
    if args.dry_run {
        print!("{}", to_yaml(&docs));
        return Ok(());
    }
    let client = deploy::client_from_kubeconfig().await?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| deploy::context_namespace(&client));
    deploy::apply(&client, &namespace, &docs).await?;
    let name = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("SpinApp"))
        .and_then(|d| d["metadata"]["name"].as_str())
        .expect("scaffold always yields a SpinApp")
        .to_string();
    eprintln!("Applied SpinApp {namespace}/{name}; waiting for it to become ready");
    deploy::wait_ready(
        &client,
        &namespace,
        &name,
        Duration::from_secs(args.timeout),
        |line| {
            eprintln!("  {line}");
            let _ = std::io::stderr().flush();
        },
    )
    .await?;
    println!(
        "{}",
        deploy::service_address(&client, &namespace, &name).await?
    );
    Ok(())
}
