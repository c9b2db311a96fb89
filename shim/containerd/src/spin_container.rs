//! The Spin workload of the Task service: Create finds the app (the container's root
//! filesystem, else the Spin OCI artifact its image is), prepares it (compile or load
//! from the node's cache); Start binds its listener in the pod's network namespace and
//! serves until stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use containerd_shim_protos::api;
use containerd_shim_protos::cgroups::metrics::Metrics;
use containerd_shim_protos::ttrpc::{Code, Error as TtrpcError};
use futures::future::BoxFuture;
use spin_runtime::PreparedApp;
use spin_runtime::content::{ArtifactContent, ContentResolver};
use spin_runtime::log_queue::LogQueue;
use spin_runtime::trigger::http::has_routes;
use spin_runtime::trigger::run::{Ended, run_triggers};
use tokio::sync::{Mutex, oneshot};

use crate::app;
use crate::artifact::{self, Containerd};
use crate::bundle::BundleSpec;
use crate::cgroup;
use crate::stats;
use crate::workload::{Created, Workload, rpc_error};

const SIGKILL: u32 = 9;

/// A prepared Spin app container.
pub struct SpinContainer {
    prepared: Arc<PreparedApp>,
    spec: BundleSpec,
    /// Per-container scratch space (staged files, default key-value store).
    _work: tempfile::TempDir,
    /// Rootfs this shim mounted, unmounted on delete.
    mounted: Option<PathBuf>,
}

/// Spin apps of one pod.
pub struct SpinPod {
    namespace: String,
    /// containerd's gRPC socket, for the content store.
    containerd_address: String,
    /// The pod's network namespace, from the sandbox container's spec.
    pod_netns: Mutex<Option<PathBuf>>,
    /// The pod's log lines, kept within its apps' `SPIN_LOG_MAX_BYTES_PER_SECOND`.
    log: LogQueue,
}

impl SpinPod {
    pub fn new(namespace: String, containerd_address: String, log: LogQueue) -> Self {
        Self {
            namespace,
            containerd_address,
            pod_netns: Mutex::default(),
            log,
        }
    }

    /// The app: spin.toml in the rootfs, else the Spin OCI artifact the container's
    /// image is, read from containerd's content store (its layers copied into the node's
    /// blob cache, kept within `blobs_max_bytes`).
    async fn find_app(
        &self,
        id: &str,
        spec: &BundleSpec,
        blobs_max_bytes: u64,
    ) -> Result<(spin_app::LockedApp, Box<dyn ContentResolver>), app::AppError> {
        // Reading the image's files blocks (its own thread, chrooted): off the workers.
        let root = spec.root.clone();
        let rootfs = tokio::task::spawn_blocking(move || crate::rootfs::load(&root))
            .await
            .map_err(|e| app::AppError::Io(format!("{id}: reading the rootfs: {e}")))?
            .map_err(|source| app::AppError::Rootfs {
                id: id.into(),
                source,
            })?;
        if let Some((locked, content)) = rootfs {
            return Ok((locked, Box::new(content)));
        }
        let artifact_err = |source| app::AppError::Artifact {
            id: id.into(),
            source,
        };
        let containerd = Containerd::connect(&self.containerd_address, &self.namespace)
            .await
            .map_err(artifact_err)?;
        let image = containerd.image_of(id).await.map_err(artifact_err)?;
        if image.is_empty() {
            return Err(app::AppError::NotSpin {
                id: id.into(),
                root: spec.root.clone(),
            });
        }
        let blobs = app::blob_dir();
        let app = artifact::load(&containerd, &image, &blobs, blobs_max_bytes)
            .await
            .map_err(artifact_err)?;
        Ok((
            app.locked,
            Box::new(ArtifactContent {
                blob_dir: blobs,
                carried: app.carried,
            }),
        ))
    }

    /// Mounts the container's rootfs (if Create gave mounts) at the spec's root.
    async fn mount_rootfs(
        req: &api::CreateTaskRequest,
        spec: &BundleSpec,
    ) -> Result<Option<PathBuf>, TtrpcError> {
        if req.rootfs.is_empty() {
            return Ok(None);
        }
        std::fs::create_dir_all(&spec.root)
            .map_err(|e| rpc_error(Code::INTERNAL, format!("{}: {e}", spec.root.display())))?;
        for m in &req.rootfs {
            containerd_shim::asynchronous::util::mount_rootfs(m, &spec.root)
                .await
                .map_err(|e| {
                    rpc_error(
                        Code::INTERNAL,
                        format!("mounting the rootfs of {}: {e}", req.id),
                    )
                })?;
        }
        Ok(Some(spec.root.clone()))
    }
}

#[async_trait]
impl Workload for SpinPod {
    type Prepared = SpinContainer;

    async fn create(
        &self,
        req: &api::CreateTaskRequest,
    ) -> Result<Created<SpinContainer>, TtrpcError> {
        let bundle = PathBuf::from(&req.bundle);
        let mut spec = BundleSpec::load(&bundle)
            .map_err(|e| rpc_error(Code::INVALID_ARGUMENT, e.to_string()))?;
        if spec.is_sandbox() {
            *self.pod_netns.lock().await = spec.netns.clone();
            return Ok(Created::Sandbox);
        }
        // CRI names the app's network namespace through the sandbox task's pid, which
        // is this shim's: that path is the shim's own namespace, so join the one the
        // sandbox's spec named (the pod's).
        if spec.netns.as_deref().is_none_or(crate::app::is_own_netns)
            && let Some(pod) = self.pod_netns.lock().await.clone()
        {
            spec.netns = Some(pod);
        }
        if let Some(path) = &spec.cgroups_path {
            match cgroup::join(path, spec.memory_limit) {
                Ok(dirs) => {
                    tracing::info!(container = %req.id, ?dirs, "joined the container's cgroup")
                }
                Err(e) => {
                    return Err(rpc_error(
                        Code::FAILED_PRECONDITION,
                        format!(
                            "container {}: cannot join its cgroup, so the pod's limits \
                             would not apply: {e}",
                            req.id
                        ),
                    ));
                }
            }
        }
        let mounted = Self::mount_rootfs(req, &spec).await?;
        let work = tempfile::Builder::new()
            .prefix("spin-")
            .tempdir_in(&bundle)
            .map_err(|e| rpc_error(Code::INTERNAL, format!("{}: {e}", bundle.display())))?;
        // The node's configuration, read once for the cache and the app's settings.
        let found = match app::node_config() {
            Ok(node) => {
                let blobs_max_bytes = node.caches.blobs_max_bytes;
                self.find_app(&req.id, &spec, blobs_max_bytes)
                    .await
                    .map(|found| (node, found))
            }
            Err(e) => Err(e),
        };
        let prepared = match found {
            Ok((node, (locked, content))) => {
                let (id, spec, dir) = (req.id.clone(), spec.clone(), work.path().to_path_buf());
                tokio::task::spawn_blocking(move || {
                    app::prepare(&id, &spec, &dir, &node, locked, Arc::from(content))
                })
                .await
                .map_err(|e| rpc_error(Code::INTERNAL, e.to_string()))?
            }
            Err(e) => Err(e),
        };
        match prepared {
            Ok(prepared) => {
                let rate = prepared.config.limits.max_log_bytes_per_second;
                self.log.limit_rate(rate);
                Ok(Created::App(SpinContainer {
                    prepared: Arc::new(prepared),
                    spec,
                    _work: work,
                    mounted,
                }))
            }
            Err(e) => {
                tracing::error!("{e}");
                if let Some(root) = &mounted {
                    unmount(root);
                }
                Err(rpc_error(Code::FAILED_PRECONDITION, e.to_string()))
            }
        }
    }

    fn start(
        &self,
        id: &str,
        container: &SpinContainer,
        stop: oneshot::Receiver<bool>,
    ) -> Result<BoxFuture<'static, u32>, TtrpcError> {
        let app = container.prepared.clone();
        let server = if has_routes(&app) {
            let server = app::bind(id, &app, &container.spec).map_err(|e| {
                tracing::error!("{e}");
                rpc_error(Code::FAILED_PRECONDITION, e.to_string())
            })?;
            tracing::info!("Serving http://{} (container {id})", server.local_addr());
            Some(server)
        } else {
            None
        };
        for trigger in app.triggers() {
            let described: Vec<_> = trigger
                .describe()
                .iter()
                .map(|l| l.trim().to_string())
                .collect();
            if !described.is_empty() {
                tracing::info!("{} (container {id})", described.join(" "));
            }
        }
        let id = id.to_string();
        Ok(Box::pin(async move {
            let (graceful_tx, graceful_rx) = oneshot::channel::<bool>();
            let shutdown = async move {
                let graceful = stop.await.unwrap_or(false);
                let _ = graceful_tx.send(graceful);
            };
            // SIGTERM waits for the drain; SIGKILL aborts the triggers at once; a
            // trigger failing for good ends the container with status 1.
            let mut running = tokio::spawn(run_triggers(app, server, shutdown, app::DRAIN));
            // The stop signal is sent before the triggers begin to stop, so checking
            // it first keeps a kill's status even when they end at once. Triggers that
            // end on their own (a command, a failure) drop the sender unsent.
            tokio::select! {
                biased;
                Ok(graceful) = graceful_rx => {
                    if graceful {
                        let _ = running.await;
                        0
                    } else {
                        running.abort();
                        128 + SIGKILL
                    }
                }
                ended = &mut running => match ended {
                    Ok(Ok(Ended::Exited(status))) => status as u32,
                    Ok(Ok(Ended::Stopped)) => 0,
                    Ok(Err(e)) => {
                        tracing::error!("container {id}: {e}");
                        1
                    }
                    Err(e) => {
                        tracing::error!("container {id}: the triggers' task failed: {e}");
                        1
                    }
                },
            }
        }))
    }

    fn stats(&self, container: &SpinContainer) -> Metrics {
        stats::app_metrics(container.spec.memory_limit)
    }

    fn release(&self, container: &SpinContainer) {
        if let Some(root) = &container.mounted {
            unmount(root);
        }
    }
}

fn unmount(root: &Path) {
    if let Err(e) = nix::mount::umount2(root, nix::mount::MntFlags::MNT_DETACH) {
        log::warn!("unmounting {}: {e}", root.display());
    }
}
