//! `spin-operator`: reconciles SpinApps into Deployments and Services.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use spin_operator::http::{self, Health};
use spin_operator::leader::LeaderElector;
use spin_operator::reconcile::Context;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// SpinApps reconciled at once.
    #[arg(long, env = "SPIN_OPERATOR_CONCURRENCY", default_value_t = 4)]
    concurrency: u16,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "SPIN_OPERATOR_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Hold a Lease so only one replica reconciles (turn off for a single local run).
    #[arg(long, env = "SPIN_OPERATOR_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the leader-election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "spin-system")]
    lease_namespace: String,
    #[arg(
        long,
        env = "SPIN_OPERATOR_LEASE_NAME",
        default_value = "spin-operator-leader"
    )]
    lease_name: String,
    /// This replica's name in the Lease.
    #[arg(long, env = "POD_NAME", default_value = "spin-operator-local")]
    identity: String,
    /// Seconds a Lease is valid without renewal.
    #[arg(long, env = "SPIN_OPERATOR_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let client = Client::try_default().await.map_err(|e| {
        anyhow::anyhow!("cannot reach Kubernetes ({e}); set KUBECONFIG or run inside a cluster")
    })?;
    let ctx = Arc::new(Context::new(client.clone(), Some(args.identity.clone())));
    let health = Health {
        ready: Arc::new(AtomicBool::new(false)),
        metrics: ctx.metrics.clone(),
    };
    tokio::spawn(http::serve(args.http_addr, health.clone()));

    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    if args.leader_election {
        let elector = LeaderElector::new(
            Api::<Lease>::namespaced(client.clone(), &args.lease_namespace),
            &args.lease_name,
            &args.identity,
            Duration::from_secs(args.lease_seconds),
        );
        // A standby replica is healthy and ready; it just does not reconcile.
        health
            .ready
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(lease = %args.lease_name, identity = %args.identity, "waiting to become leader");
        while !elector.try_acquire_or_renew().await.unwrap_or(false) {
            tokio::time::sleep(elector.renew_every()).await;
        }
        tracing::info!("became leader");
        tokio::spawn(keep_leading(
            elector,
            Duration::from_secs(args.lease_seconds),
            lost_tx,
        ));
    } else {
        drop(lost_tx);
    }

    health
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm() => {}
            Ok(()) = lost_rx => tracing::error!("leadership lost; stopping"),
        }
    };
    spin_operator::controller::run(client, ctx, args.concurrency, shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Renews the lease; reports once it is lost or could not be renewed for its whole
/// duration (another replica may hold it by then), so two replicas never both act.
async fn keep_leading(
    elector: LeaderElector,
    lease: Duration,
    lost: tokio::sync::oneshot::Sender<()>,
) {
    let mut last_renewed = std::time::Instant::now();
    loop {
        tokio::time::sleep(elector.renew_every()).await;
        match elector.try_acquire_or_renew().await {
            Ok(true) => last_renewed = std::time::Instant::now(),
            Ok(false) => break,
            Err(e) => tracing::warn!("lease renewal failed: {e}"),
        }
        if last_renewed.elapsed() >= lease {
            break;
        }
    }
    let _ = lost.send(());
}
