//! The containerd Task service for one pod: a state machine over container ids
//! (created → running → stopped → deleted) that publishes containerd's task events.
//! What a container runs is the [`Workload`]'s business (Spin apps, in
//! [`crate::spin_container`]); the sandbox (pause) container is held without a process.
//!
//! Exit statuses: a SIGTERM lets the workload drain and exit (0 for Spin apps);
//! SIGKILL stops at once (137 = 128 + 9, as a killed process would). A container killed
//! before it started exits 128 + the signal.
//!
//! The ttrpc methods only delegate to inherent async methods, which the tests call
//! with a fake workload and a recording event sink.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use containerd_shim::TtrpcResult;
use containerd_shim::asynchronous::ExitSignal;
use containerd_shim::util::timestamp;
use containerd_shim_protos::api;
use containerd_shim_protos::events::task::{TaskCreate, TaskDelete, TaskExit, TaskStart};
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::shim_async::Task;
use containerd_shim_protos::topics::{
    TASK_CREATE_EVENT_TOPIC, TASK_DELETE_EVENT_TOPIC, TASK_EXIT_EVENT_TOPIC, TASK_START_EVENT_TOPIC,
};
use containerd_shim_protos::ttrpc::r#async::TtrpcContext;
use containerd_shim_protos::ttrpc::{Code, Error as TtrpcError};
use containerd_shim_protos::types::task::Status;
use tokio::sync::{Mutex, oneshot, watch};

use crate::logs::LogSink;
use crate::workload::{Created, EventSink, Workload, rpc_error};

const SIGKILL: u32 = 9;

#[derive(Clone, Debug)]
struct Exit {
    status: u32,
    at: Timestamp,
}

struct Container<P> {
    bundle: String,
    stdout: String,
    stderr: String,
    kind: Created<P>,
    status: Status,
    exit_tx: watch::Sender<Option<Exit>>,
    /// Stops a running container: `true` drains, `false` stops now.
    stop: Option<oneshot::Sender<bool>>,
}

pub struct TaskService<W: Workload> {
    workload: Arc<W>,
    events: Arc<dyn EventSink>,
    containers: Arc<Mutex<HashMap<String, Container<W::Prepared>>>>,
    exit: Arc<ExitSignal>,
    logs: LogSink,
}

impl<W: Workload> Clone for TaskService<W> {
    fn clone(&self) -> Self {
        Self {
            workload: self.workload.clone(),
            events: self.events.clone(),
            containers: self.containers.clone(),
            exit: self.exit.clone(),
            logs: self.logs.clone(),
        }
    }
}

fn not_found(id: &str) -> TtrpcError {
    rpc_error(
        Code::NOT_FOUND,
        format!("container {id} does not exist in this shim"),
    )
}

/// Every container of the pod is served by this one process.
fn pid() -> u32 {
    std::process::id()
}

impl<W: Workload> TaskService<W> {
    pub fn new(
        workload: W,
        events: Arc<dyn EventSink>,
        exit: Arc<ExitSignal>,
        logs: LogSink,
    ) -> Self {
        Self {
            workload: Arc::new(workload),
            events,
            containers: Arc::default(),
            exit,
            logs,
        }
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
        self.events
            .publish(
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

    pub async fn create_task(
        &self,
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
        let kind = match self.workload.create(&req).await {
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
        self.events
            .publish(
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

    pub async fn start_task(&self, req: api::StartRequest) -> TtrpcResult<api::StartResponse> {
        let run = {
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
            let (stop_tx, stop_rx) = oneshot::channel();
            let run: futures::future::BoxFuture<'static, u32> = match &c.kind {
                // The sandbox: nothing runs; it exits 0 when killed.
                Created::Sandbox => Box::pin(async move {
                    let _ = stop_rx.await;
                    0
                }),
                Created::App(prepared) => self.workload.start(&req.id, prepared, stop_rx)?,
            };
            c.stop = Some(stop_tx);
            c.status = Status::RUNNING;
            run
        };
        let this = self.clone();
        let id = req.id.clone();
        tokio::spawn(async move {
            let status = run.await;
            this.exited(&id, status).await;
        });
        self.events
            .publish(
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

    pub async fn task_state(&self, req: api::StateRequest) -> TtrpcResult<api::StateResponse> {
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

    pub async fn wait_task(&self, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
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

    pub async fn kill_task(&self, req: api::KillRequest) -> TtrpcResult<api::Empty> {
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

    pub async fn delete_task(&self, req: api::DeleteRequest) -> TtrpcResult<api::DeleteResponse> {
        let c = self
            .containers
            .lock()
            .await
            .remove(&req.id)
            .ok_or_else(|| not_found(&req.id))?;
        if let Some(stop) = c.stop {
            let _ = stop.send(false);
        }
        if let Created::App(prepared) = &c.kind {
            self.workload.release(prepared);
        }
        self.logs.detach(&req.id);
        let exit = c.exit_tx.borrow().clone().unwrap_or(Exit {
            status: 128 + SIGKILL,
            at: timestamp().unwrap_or_default(),
        });
        self.events
            .publish(
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

    pub async fn task_pids(&self, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
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

    pub async fn task_stats(&self, req: api::StatsRequest) -> TtrpcResult<api::StatsResponse> {
        let metrics = {
            let containers = self.containers.lock().await;
            match &containers
                .get(&req.id)
                .ok_or_else(|| not_found(&req.id))?
                .kind
            {
                Created::Sandbox => containerd_shim_protos::cgroups::metrics::Metrics::default(),
                Created::App(prepared) => self.workload.stats(prepared),
            }
        };
        let any = containerd_shim::util::convert_to_any(Box::new(metrics))
            .map_err(|e| rpc_error(Code::INTERNAL, e.to_string()))?;
        Ok(api::StatsResponse {
            stats: Some(any).into(),
            ..Default::default()
        })
    }

    /// Ends the shim once no container is left.
    pub async fn shutdown_task(&self) -> TtrpcResult<api::Empty> {
        if self.containers.lock().await.is_empty() {
            self.exit.signal();
        }
        Ok(api::Empty::default())
    }
}

#[async_trait]
impl<W: Workload> Task for TaskService<W> {
    async fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        self.create_task(req).await
    }

    async fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        self.start_task(req).await
    }

    async fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        self.task_state(req).await
    }

    async fn wait(
        &self,
        _ctx: &TtrpcContext,
        req: api::WaitRequest,
    ) -> TtrpcResult<api::WaitResponse> {
        self.wait_task(req).await
    }

    async fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        self.kill_task(req).await
    }

    async fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        self.delete_task(req).await
    }

    async fn pids(
        &self,
        _ctx: &TtrpcContext,
        req: api::PidsRequest,
    ) -> TtrpcResult<api::PidsResponse> {
        self.task_pids(req).await
    }

    async fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        self.task_stats(req).await
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
        self.shutdown_task().await
    }
}

#[cfg(test)]
mod tests;
