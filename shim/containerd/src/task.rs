//! The containerd Task service for one pod: the sandbox (pause) container is held
//! without a process; each app container is a Spin app served by this process.
//!
//! Exit statuses: a SIGTERM drains in-flight requests (up to [`app::DRAIN`]) and exits
//! 0; SIGKILL stops at once and exits 137 (128 + 9), as a killed process would.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use containerd_shim::asynchronous::ExitSignal;
use containerd_shim::asynchronous::publisher::RemotePublisher;
use containerd_shim::util::timestamp;
use containerd_shim::{Context, TtrpcResult};
use containerd_shim_protos::api;
use containerd_shim_protos::events::task::{TaskCreate, TaskDelete, TaskExit, TaskStart};
use containerd_shim_protos::protobuf::MessageDyn;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::shim_async::Task;
use containerd_shim_protos::topics::{
    TASK_CREATE_EVENT_TOPIC, TASK_DELETE_EVENT_TOPIC, TASK_EXIT_EVENT_TOPIC, TASK_START_EVENT_TOPIC,
};
use containerd_shim_protos::ttrpc::r#async::TtrpcContext;
use containerd_shim_protos::ttrpc::{Code, Error as TtrpcError, Status as RpcStatus};
use containerd_shim_protos::types::task::Status;
use spin_runtime::PreparedApp;
use spin_runtime::content::{ArtifactContent, ContentResolver};
use tokio::sync::{Mutex, oneshot, watch};

use crate::app;
use crate::artifact::{self, Containerd};
use crate::bundle::BundleSpec;
use crate::cgroup;
use crate::logs::LogSink;
use crate::stats;

const SIGKILL: u32 = 9;

#[derive(Clone, Debug)]
struct Exit {
    status: u32,
    at: Timestamp,
}

enum Kind {
    /// The pod's pause container.
    Sandbox,
    App(Box<AppContainer>),
}

struct AppContainer {
    prepared: Arc<PreparedApp>,
    spec: BundleSpec,
    /// Per-container scratch space (staged files, default key-value store).
    _work: tempfile::TempDir,
    /// Rootfs this shim mounted, unmounted on delete.
    mounted: Option<PathBuf>,
}

struct Container {
    bundle: String,
    stdout: String,
    stderr: String,
    kind: Kind,
    status: Status,
    exit_tx: watch::Sender<Option<Exit>>,
    /// Stops a running app: `true` drains, `false` stops now.
    stop: Option<oneshot::Sender<bool>>,
}

#[derive(Clone)]
pub struct SpinTask {
    namespace: String,
    /// containerd's gRPC socket, for the content store.
    containerd_address: String,
    /// The pod's network namespace, from the sandbox container's spec.
    pod_netns: Arc<Mutex<Option<PathBuf>>>,
    publisher: Arc<RemotePublisher>,
    containers: Arc<Mutex<HashMap<String, Container>>>,
    exit: Arc<ExitSignal>,
    logs: LogSink,
}

fn rpc_error(code: Code, message: impl Into<String>) -> TtrpcError {
    TtrpcError::RpcStatus(RpcStatus {
        code: code.into(),
        message: message.into(),
        ..Default::default()
    })
}

fn not_found(id: &str) -> TtrpcError {
    rpc_error(
        Code::NOT_FOUND,
        format!("container {id} does not exist in this shim"),
    )
}

fn pid() -> u32 {
    std::process::id()
}

impl SpinTask {
    pub fn new(
        namespace: String,
        containerd_address: String,
        publisher: RemotePublisher,
        exit: Arc<ExitSignal>,
        logs: LogSink,
    ) -> Self {
        Self {
            namespace,
            containerd_address,
            pod_netns: Arc::default(),
            publisher: Arc::new(publisher),
            containers: Arc::default(),
            exit,
            logs,
        }
    }

    async fn publish(&self, topic: &str, event: Box<dyn MessageDyn>) {
        if let Err(e) = self
            .publisher
            .publish(Context::default(), topic, &self.namespace, event)
            .await
        {
            log::warn!("publishing {topic}: {e}");
        }
    }

    /// Prepares the container: mounts its rootfs, loads and compiles its app.
    async fn create_container(&self, req: &api::CreateTaskRequest) -> Result<Kind, TtrpcError> {
        let bundle = PathBuf::from(&req.bundle);
        let mut spec = BundleSpec::load(&bundle)
            .map_err(|e| rpc_error(Code::INVALID_ARGUMENT, e.to_string()))?;
        if spec.is_sandbox() {
            *self.pod_netns.lock().await = spec.netns.clone();
            return Ok(Kind::Sandbox);
        }
        // CRI names the app's network namespace through the sandbox task's pid, which
        // is this shim's: that path is the shim's own namespace, so join the one the
        // sandbox's spec named (the pod's).
        if spec.netns.as_deref().is_none_or(is_own_netns)
            && let Some(pod) = self.pod_netns.lock().await.clone()
        {
            spec.netns = Some(pod);
        }
        if let Some(path) = &spec.cgroups_path {
            match cgroup::join(path, spec.memory_limit) {
                Ok(dirs) => {
                    tracing::info!(container = %req.id, ?dirs, "joined the container's cgroup")
                }
                Err(e) => tracing::warn!(container = %req.id, "not in the container's cgroup: {e}"),
            }
        }
        let mut mounted = None;
        if !req.rootfs.is_empty() {
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
            mounted = Some(spec.root.clone());
        }
        let work = tempfile::Builder::new()
            .prefix("spin-")
            .tempdir_in(&bundle)
            .map_err(|e| rpc_error(Code::INTERNAL, format!("{}: {e}", bundle.display())))?;
        let prepared = match self.find_app(&req.id, &spec).await {
            Ok((locked, content)) => {
                let (id, spec, dir) = (req.id.clone(), spec.clone(), work.path().to_path_buf());
                tokio::task::spawn_blocking(move || {
                    app::prepare(&id, &spec, &dir, locked, content.as_ref())
                })
                .await
                .map_err(|e| rpc_error(Code::INTERNAL, e.to_string()))?
            }
            Err(e) => Err(e),
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("{e}");
                if let Some(root) = &mounted {
                    unmount(root);
                }
                return Err(rpc_error(Code::FAILED_PRECONDITION, e.to_string()));
            }
        };
        Ok(Kind::App(Box::new(AppContainer {
            prepared: Arc::new(prepared),
            spec,
            _work: work,
            mounted,
        })))
    }

    /// The app: spin.toml in the rootfs, else the Spin OCI artifact the container's
    /// image is, read from containerd's content store.
    async fn find_app(
        &self,
        id: &str,
        spec: &BundleSpec,
    ) -> Result<(spin_app::LockedApp, Box<dyn ContentResolver>), app::AppError> {
        let rootfs = crate::rootfs::load(&spec.root).map_err(|source| app::AppError::Rootfs {
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
        let app = artifact::load(&containerd, &image, &blobs)
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

    /// Records the exit of `id` and tells containerd.
    async fn exited(&self, id: &str, status: u32) {
        let at = timestamp().unwrap_or_default();
        {
            let mut containers = self.containers.lock().await;
            let Some(c) = containers.get_mut(id) else {
                return;
            };
            c.status = Status::STOPPED;
            c.stop = None;
            c.exit_tx.send_replace(Some(Exit {
                status,
                at: at.clone(),
            }));
        }
        self.logs.detach(id);
        self.publish(
            TASK_EXIT_EVENT_TOPIC,
            Box::new(TaskExit {
                container_id: id.into(),
                id: id.into(),
                pid: pid(),
                exit_status: status,
                exited_at: Some(at).into(),
                ..Default::default()
            }),
        )
        .await;
    }
}

/// Whether `path` is the network namespace this process is in.
fn is_own_netns(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn unmount(root: &std::path::Path) {
    if let Err(e) = nix::mount::umount2(root, nix::mount::MntFlags::MNT_DETACH) {
        log::warn!("unmounting {}: {e}", root.display());
    }
}

#[async_trait]
impl Task for SpinTask {
    async fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        if self.containers.lock().await.contains_key(&req.id) {
            return Err(rpc_error(
                Code::ALREADY_EXISTS,
                format!("container {} exists", req.id),
            ));
        }
        // Preparing logs too (compile or cache hit), so attach before it.
        if let Err(e) = self.logs.attach(&req.id, &req.stdout) {
            log::warn!("container {}: stdout {}: {e}", req.id, req.stdout);
        }
        let kind = match self.create_container(&req).await {
            Ok(kind) => kind,
            Err(e) => {
                self.logs.detach(&req.id);
                return Err(e);
            }
        };
        let (exit_tx, _) = watch::channel(None);
        self.containers.lock().await.insert(
            req.id.clone(),
            Container {
                bundle: req.bundle.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                kind,
                status: Status::CREATED,
                exit_tx,
                stop: None,
            },
        );
        self.publish(
            TASK_CREATE_EVENT_TOPIC,
            Box::new(TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                pid: pid(),
                ..Default::default()
            }),
        )
        .await;
        Ok(api::CreateTaskResponse {
            pid: pid(),
            ..Default::default()
        })
    }

    async fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        let (server, stop_rx) = {
            let mut containers = self.containers.lock().await;
            let c = containers
                .get_mut(&req.id)
                .ok_or_else(|| not_found(&req.id))?;
            if c.status != Status::CREATED {
                return Err(rpc_error(
                    Code::FAILED_PRECONDITION,
                    format!("container {} is not in the created state", req.id),
                ));
            }
            let server = match &c.kind {
                Kind::Sandbox => None,
                Kind::App(app) => {
                    let AppContainer { prepared, spec, .. } = app.as_ref();
                    let server = app::bind(&req.id, prepared, spec).map_err(|e| {
                        tracing::error!("{e}");
                        rpc_error(Code::FAILED_PRECONDITION, e.to_string())
                    })?;
                    Some(server)
                }
            };
            let (stop_tx, stop_rx) = oneshot::channel();
            c.stop = Some(stop_tx);
            c.status = Status::RUNNING;
            (server, stop_rx)
        };
        let this = self.clone();
        let id = req.id.clone();
        tokio::spawn(async move {
            let status = match server {
                // The sandbox: nothing runs; it exits when killed.
                None => {
                    let _ = stop_rx.await;
                    0
                }
                Some(server) => {
                    tracing::info!("Serving http://{} (container {id})", server.local_addr());
                    let (graceful_tx, graceful_rx) = oneshot::channel::<bool>();
                    let shutdown = async move {
                        let graceful = stop_rx.await.unwrap_or(false);
                        let _ = graceful_tx.send(graceful);
                    };
                    // SIGTERM waits for the drain; SIGKILL aborts the server at once.
                    let served = tokio::spawn(server.serve(shutdown, app::DRAIN));
                    let graceful = graceful_rx.await.unwrap_or(false);
                    if graceful {
                        let _ = served.await;
                        0
                    } else {
                        served.abort();
                        128 + SIGKILL
                    }
                }
            };
            this.exited(&id, status).await;
        });
        self.publish(
            TASK_START_EVENT_TOPIC,
            Box::new(TaskStart {
                container_id: req.id.clone(),
                pid: pid(),
                ..Default::default()
            }),
        )
        .await;
        Ok(api::StartResponse {
            pid: pid(),
            ..Default::default()
        })
    }

    async fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        let containers = self.containers.lock().await;
        let c = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        let exit = c.exit_tx.borrow().clone();
        Ok(api::StateResponse {
            id: req.id.clone(),
            bundle: c.bundle.clone(),
            pid: pid(),
            status: c.status.into(),
            stdout: c.stdout.clone(),
            stderr: c.stderr.clone(),
            exit_status: exit.as_ref().map(|e| e.status).unwrap_or_default(),
            exited_at: exit.map(|e| e.at).into(),
            ..Default::default()
        })
    }

    async fn wait(
        &self,
        _ctx: &TtrpcContext,
        req: api::WaitRequest,
    ) -> TtrpcResult<api::WaitResponse> {
        let mut rx = {
            let containers = self.containers.lock().await;
            containers
                .get(&req.id)
                .ok_or_else(|| not_found(&req.id))?
                .exit_tx
                .subscribe()
        };
        let exit = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| rpc_error(Code::INTERNAL, "container deleted while waiting"))?
            .clone()
            .expect("waited for Some");
        Ok(api::WaitResponse {
            exit_status: exit.status,
            exited_at: Some(exit.at).into(),
            ..Default::default()
        })
    }

    async fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        let never_started = {
            let mut containers = self.containers.lock().await;
            let c = containers
                .get_mut(&req.id)
                .ok_or_else(|| not_found(&req.id))?;
            match c.status {
                Status::RUNNING => {
                    if let Some(stop) = c.stop.take() {
                        let _ = stop.send(req.signal != SIGKILL);
                    }
                    false
                }
                Status::CREATED => true,
                _ => false,
            }
        };
        if never_started {
            self.exited(&req.id, 128 + req.signal).await;
        }
        Ok(api::Empty::default())
    }

    async fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        let c = self
            .containers
            .lock()
            .await
            .remove(&req.id)
            .ok_or_else(|| not_found(&req.id))?;
        if let Some(stop) = c.stop {
            let _ = stop.send(false);
        }
        if let Kind::App(app) = &c.kind
            && let Some(root) = &app.mounted
        {
            unmount(root);
        }
        self.logs.detach(&req.id);
        let exit = c.exit_tx.borrow().clone().unwrap_or(Exit {
            status: 128 + SIGKILL,
            at: timestamp().unwrap_or_default(),
        });
        self.publish(
            TASK_DELETE_EVENT_TOPIC,
            Box::new(TaskDelete {
                container_id: req.id.clone(),
                id: req.id.clone(),
                pid: pid(),
                exit_status: exit.status,
                exited_at: Some(exit.at.clone()).into(),
                ..Default::default()
            }),
        )
        .await;
        Ok(api::DeleteResponse {
            pid: pid(),
            exit_status: exit.status,
            exited_at: Some(exit.at).into(),
            ..Default::default()
        })
    }

    async fn pids(
        &self,
        _ctx: &TtrpcContext,
        req: api::PidsRequest,
    ) -> TtrpcResult<api::PidsResponse> {
        if !self.containers.lock().await.contains_key(&req.id) {
            return Err(not_found(&req.id));
        }
        Ok(api::PidsResponse {
            processes: vec![containerd_shim_protos::types::task::ProcessInfo {
                pid: pid(),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    async fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        let metrics = {
            let containers = self.containers.lock().await;
            match &containers
                .get(&req.id)
                .ok_or_else(|| not_found(&req.id))?
                .kind
            {
                Kind::Sandbox => containerd_shim_protos::cgroups::metrics::Metrics::default(),
                Kind::App(app) => stats::app_metrics(app.spec.memory_limit),
            }
        };
        let any = containerd_shim::util::convert_to_any(Box::new(metrics))
            .map_err(|e| rpc_error(Code::INTERNAL, e.to_string()))?;
        Ok(api::StatsResponse {
            stats: Some(any).into(),
            ..Default::default()
        })
    }

    async fn connect(
        &self,
        _ctx: &TtrpcContext,
        _req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        Ok(api::ConnectResponse {
            shim_pid: pid(),
            task_pid: pid(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        })
    }

    async fn shutdown(
        &self,
        _ctx: &TtrpcContext,
        _req: api::ShutdownRequest,
    ) -> TtrpcResult<api::Empty> {
        if self.containers.lock().await.is_empty() {
            self.exit.signal();
        }
        Ok(api::Empty::default())
    }
}
