//! The seam between the containerd Task service ([`crate::task`], a state machine over
//! container ids) and what actually runs a container ([`crate::spin_container`]): the
//! Task service knows nothing of Spin, and the Spin side nothing of ttrpc states and
//! events, so each is tested on its own (the state machine with a fake workload).

use async_trait::async_trait;
use containerd_shim_protos::api;
use containerd_shim_protos::cgroups::metrics::Metrics;
use containerd_shim_protos::protobuf::MessageDyn;
use containerd_shim_protos::ttrpc::{Code, Error as TtrpcError, Status as RpcStatus};
use futures::future::BoxFuture;
use tokio::sync::oneshot;

/// What Create made of a container.
pub enum Created<P> {
    /// The pod's sandbox (pause) container: held, nothing runs.
    Sandbox,
    /// A container with a workload, prepared and ready to start.
    App(P),
}

/// Runs containers for the Task service.
#[async_trait]
pub trait Workload: Send + Sync + 'static {
    /// A prepared container.
    type Prepared: Send + Sync + 'static;

    /// Prepares container `req.id` (everything that can fail before Start: find,
    /// load, compile), so a bad container fails Create with the reason.
    async fn create(
        &self,
        req: &api::CreateTaskRequest,
    ) -> Result<Created<Self::Prepared>, TtrpcError>;

    /// Starts a prepared container. The returned future runs it until `stop` says
    /// how to stop (`true`: drain, `false`: at once) and yields its exit status.
    fn start(
        &self,
        id: &str,
        prepared: &Self::Prepared,
        stop: oneshot::Receiver<bool>,
    ) -> Result<BoxFuture<'static, u32>, TtrpcError>;

    /// Resource usage, for CRI's ContainerStats.
    fn stats(&self, prepared: &Self::Prepared) -> Metrics;

    /// Releases what Create took (mounts); called once, on Delete.
    fn release(&self, prepared: &Self::Prepared);
}

/// Where task events go (containerd's event service, or a test's recorder).
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn publish(&self, topic: &str, event: Box<dyn MessageDyn>);
}

/// A ttrpc error with a gRPC code, as containerd shows it to `ctr` and kubelet.
pub fn rpc_error(code: Code, message: impl Into<String>) -> TtrpcError {
    TtrpcError::RpcStatus(RpcStatus {
        code: code.into(),
        message: message.into(),
        ..Default::default()
    })
}
