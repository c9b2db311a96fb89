//! The shim process: `start` groups a pod's containers into one shim, `delete` cleans
//! up after a shim that died, and the Task service does the rest.

use std::sync::Arc;

use async_trait::async_trait;
use containerd_shim::asynchronous::publisher::RemotePublisher;
use containerd_shim::asynchronous::{ExitSignal, Shim, spawn};
use containerd_shim::{Config, Error, Flags, StartOpts};
use containerd_shim_protos::api::DeleteResponse;

use crate::bundle::BundleSpec;
use crate::logs::LogSink;
use crate::spin_container::SpinPod;
use crate::task::TaskService;
use crate::workload::EventSink;

pub struct SpinShim {
    namespace: String,
    containerd_address: String,
    exit: Arc<ExitSignal>,
    logs: LogSink,
}

#[async_trait]
impl Shim for SpinShim {
    type T = TaskService<SpinPod>;

    async fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        let logs = LogSink::default();
        // Not `init()`: that would also claim the `log` facade, which containerd-shim's
        // own logger (to containerd's log) needs.
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("SPIN_SHIM_LOG")
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        Self {
            namespace: args.namespace.clone(),
            containerd_address: args.address.clone(),
            exit: Arc::new(ExitSignal::default()),
            logs,
        }
    }

    /// One shim per pod: containers with the same CRI sandbox id share a socket; the
    /// first starts the shim, the others get its address.
    async fn start_shim(&mut self, opts: StartOpts) -> Result<String, Error> {
        let bundle = std::env::current_dir().map_err(|e| Error::Other(e.to_string()))?;
        let grouping = BundleSpec::load(&bundle)
            .map(|spec| spec.grouping(&opts.id))
            .unwrap_or_else(|_| opts.id.clone());
        spawn(opts, &grouping, Vec::new()).await
    }

    async fn delete_shim(&mut self) -> Result<DeleteResponse, Error> {
        // Nothing outlives the shim process: no child processes, no host state.
        Ok(DeleteResponse {
            exit_status: 137,
            exited_at: containerd_shim::util::timestamp().ok().into(),
            ..Default::default()
        })
    }

    async fn wait(&mut self) {
        self.exit.wait().await;
    }

    async fn create_task_service(&self, publisher: RemotePublisher) -> Self::T {
        TaskService::new(
            SpinPod::new(
                self.namespace.clone(),
                self.containerd_address.clone(),
                self.logs.queue().clone(),
            ),
            Arc::new(ContainerdEvents {
                publisher,
                namespace: self.namespace.clone(),
            }),
            self.exit.clone(),
            self.logs.clone(),
        )
    }
}

/// Task events to containerd's event service, in the shim's namespace.
struct ContainerdEvents {
    publisher: RemotePublisher,
    namespace: String,
}

#[async_trait]
impl EventSink for ContainerdEvents {
    async fn publish(
        &self,
        topic: &str,
        event: Box<dyn containerd_shim_protos::protobuf::MessageDyn>,
    ) {
        if let Err(e) = self
            .publisher
            .publish(
                containerd_shim::Context::default(),
                topic,
                &self.namespace,
                event,
            )
            .await
        {
            log::warn!("publishing {topic}: {e}");
        }
    }
}
