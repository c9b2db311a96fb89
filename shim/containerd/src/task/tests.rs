//! The Task service's state machine with a fake workload and a recording event sink.

use std::sync::Mutex as StdMutex;
use std::time::Duration;

use containerd_shim_protos::cgroups::metrics::Metrics;
use containerd_shim_protos::protobuf::MessageDyn;
use futures::future::BoxFuture;

use super::*;

/// Containers whose bundle is `bad` fail Create, `unbindable` fail Start, `pause`
/// ones are sandboxes; the others run until stopped.
#[derive(Default)]
struct FakeWorkload {
    released: Arc<StdMutex<Vec<String>>>,
}

#[async_trait]
impl Workload for FakeWorkload {
    type Prepared = String;

    async fn create(&self, req: &api::CreateTaskRequest) -> Result<Created<String>, TtrpcError> {
        match req.bundle.as_str() {
            "bad" => Err(rpc_error(
                Code::FAILED_PRECONDITION,
                format!("container {}: no Spin app", req.id),
            )),
            "pause" => Ok(Created::Sandbox),
            _ => Ok(Created::App(req.bundle.clone())),
        }
    }

    fn start(
        &self,
        id: &str,
        prepared: &String,
        stop: oneshot::Receiver<bool>,
    ) -> Result<BoxFuture<'static, u32>, TtrpcError> {
        if prepared == "unbindable" {
            return Err(rpc_error(
                Code::FAILED_PRECONDITION,
                format!("container {id}: cannot listen"),
            ));
        }
        Ok(Box::pin(async move {
            if stop.await.unwrap_or(false) { 0 } else { 137 }
        }))
    }

    fn stats(&self, _: &String) -> Metrics {
        let mut m = Metrics::default();
        m.mut_memory().mut_usage().usage = 42;
        m
    }

    fn release(&self, prepared: &String) {
        self.released.lock().unwrap().push(prepared.clone());
    }
}

#[derive(Default)]
struct Recorder(StdMutex<Vec<String>>);

#[async_trait]
impl EventSink for Recorder {
    async fn publish(&self, topic: &str, event: Box<dyn MessageDyn>) {
        let exit = event
            .downcast_ref::<TaskExit>()
            .map(|e| format!(" {}", e.exit_status))
            .unwrap_or_default();
        self.0.lock().unwrap().push(format!("{topic}{exit}"));
    }
}

struct Harness {
    task: TaskService<FakeWorkload>,
    events: Arc<Recorder>,
    released: Arc<StdMutex<Vec<String>>>,
    exit: Arc<ExitSignal>,
}

fn harness() -> Harness {
    let workload = FakeWorkload::default();
    let released = workload.released.clone();
    let events = Arc::new(Recorder::default());
    let exit = Arc::new(ExitSignal::default());
    let task = TaskService::new(workload, events.clone(), exit.clone(), LogSink::default());
    Harness {
        task,
        events,
        released,
        exit,
    }
}

impl Harness {
    async fn create(&self, id: &str, bundle: &str) -> TtrpcResult<api::CreateTaskResponse> {
        self.task
            .create_task(api::CreateTaskRequest {
                id: id.into(),
                bundle: bundle.into(),
                ..Default::default()
            })
            .await
    }

    async fn start(&self, id: &str) -> TtrpcResult<api::StartResponse> {
        self.task
            .start_task(api::StartRequest {
                id: id.into(),
                ..Default::default()
            })
            .await
    }

    async fn kill(&self, id: &str, signal: u32) {
        self.task
            .kill_task(api::KillRequest {
                id: id.into(),
                signal,
                ..Default::default()
            })
            .await
            .unwrap();
    }

    async fn wait(&self, id: &str) -> u32 {
        tokio::time::timeout(
            Duration::from_secs(5),
            self.task.wait_task(api::WaitRequest {
                id: id.into(),
                ..Default::default()
            }),
        )
        .await
        .expect("the container exits")
        .unwrap()
        .exit_status
    }

    async fn status(&self, id: &str) -> TtrpcResult<Status> {
        let state = self
            .task
            .task_state(api::StateRequest {
                id: id.into(),
                ..Default::default()
            })
            .await?;
        Ok(state.status.enum_value_or_default())
    }

    async fn delete(&self, id: &str) -> TtrpcResult<api::DeleteResponse> {
        self.task
            .delete_task(api::DeleteRequest {
                id: id.into(),
                ..Default::default()
            })
            .await
    }

    fn events(&self) -> Vec<String> {
        self.events.0.lock().unwrap().clone()
    }
}

fn code(err: TtrpcError) -> Code {
    match err {
        TtrpcError::RpcStatus(s) => s.code.enum_value_or_default(),
        other => panic!("not an RPC status: {other:?}"),
    }
}

#[tokio::test]
async fn a_container_goes_through_its_life_with_events() {
    let h = harness();
    h.create("app", "ok").await.unwrap();
    assert_eq!(h.status("app").await.unwrap(), Status::CREATED);
    h.start("app").await.unwrap();
    assert_eq!(h.status("app").await.unwrap(), Status::RUNNING);
    h.kill("app", 15).await;
    assert_eq!(h.wait("app").await, 0, "SIGTERM drains and exits 0");
    assert_eq!(h.status("app").await.unwrap(), Status::STOPPED);
    let deleted = h.delete("app").await.unwrap();
    assert_eq!(deleted.exit_status, 0);
    assert_eq!(*h.released.lock().unwrap(), ["ok"]);
    assert_eq!(
        h.events(),
        [
            TASK_CREATE_EVENT_TOPIC.to_string(),
            TASK_START_EVENT_TOPIC.to_string(),
            format!("{TASK_EXIT_EVENT_TOPIC} 0"),
            TASK_DELETE_EVENT_TOPIC.to_string(),
        ]
    );
    assert_eq!(code(h.status("app").await.unwrap_err()), Code::NOT_FOUND);
}

#[tokio::test]
async fn sigkill_exits_137_and_a_kill_before_start_exits_128_plus_the_signal() {
    let h = harness();
    h.create("a", "ok").await.unwrap();
    h.start("a").await.unwrap();
    h.kill("a", 9).await;
    assert_eq!(h.wait("a").await, 137);

    h.create("b", "ok").await.unwrap();
    h.kill("b", 15).await;
    assert_eq!(h.wait("b").await, 143);
    assert_eq!(
        code(h.start("b").await.unwrap_err()),
        Code::FAILED_PRECONDITION
    );
}

#[tokio::test]
async fn bad_requests_get_the_right_codes_and_leave_no_container() {
    let h = harness();
    let e = h.create("bad", "bad").await.unwrap_err();
    assert!(format!("{e:?}").contains("no Spin app"), "{e:?}");
    assert_eq!(code(h.status("bad").await.unwrap_err()), Code::NOT_FOUND);

    h.create("a", "ok").await.unwrap();
    assert_eq!(
        code(h.create("a", "ok").await.unwrap_err()),
        Code::ALREADY_EXISTS
    );
    assert_eq!(code(h.start("nope").await.unwrap_err()), Code::NOT_FOUND);
    h.start("a").await.unwrap();
    assert_eq!(
        code(h.start("a").await.unwrap_err()),
        Code::FAILED_PRECONDITION
    );

    h.create("u", "unbindable").await.unwrap();
    let e = h.start("u").await.unwrap_err();
    assert!(format!("{e:?}").contains("cannot listen"), "{e:?}");
    assert_eq!(h.status("u").await.unwrap(), Status::CREATED);
}

#[tokio::test]
async fn the_sandbox_holds_no_workload_and_reports_empty_stats() {
    let h = harness();
    h.create("pause", "pause").await.unwrap();
    h.create("app", "ok").await.unwrap();
    h.start("pause").await.unwrap();
    let stats = |id: &str| {
        h.task.task_stats(api::StatsRequest {
            id: id.into(),
            ..Default::default()
        })
    };
    let sandbox = stats("pause").await.unwrap().stats.unwrap();
    let app = stats("app").await.unwrap().stats.unwrap();
    assert!(
        sandbox.value.len() < app.value.len(),
        "the app reports usage"
    );
    h.kill("pause", 9).await;
    assert_eq!(h.wait("pause").await, 0);
    h.delete("pause").await.unwrap();
    assert!(
        h.released.lock().unwrap().is_empty(),
        "a sandbox has nothing to release"
    );
}

#[tokio::test]
async fn shutdown_ends_the_shim_only_when_no_container_is_left() {
    let h = harness();
    h.create("a", "ok").await.unwrap();
    h.task.shutdown_task().await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(100), h.exit.wait()).await;
    assert!(early.is_err(), "the shim must keep serving its container");
    h.delete("a").await.unwrap();
    h.task.shutdown_task().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), h.exit.wait())
        .await
        .expect("the shim exits once empty");
}
