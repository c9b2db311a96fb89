//! Handing one event of a message trigger (Redis, MQTT, cron) to a component. At most
//! [`message_concurrency`] events of an app are handled at once, each also holding an
//! instance permit (`max_concurrent_instances`, shared with HTTP), so a burst of
//! messages waits at the trigger (and, for subscriptions, at the server) instead of
//! piling up instances. An event refused because every pooled instance is busy (HTTP
//! traffic, or components made of many core instances such as componentize-py's) is
//! tried again after a pause, for up to 30 s, rather than dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::handler::{Failure, new_store};
use super::trigger_type::Trigger;
use crate::PreparedApp;
use crate::host::state::RequestState;
use crate::telemetry::{TraceSpan, component_span};

/// Pause between tries of an event that found no free pooled instance.
const RETRY: Duration = Duration::from_millis(20);
/// How long an event keeps trying before it is dropped (and logged).
const GIVE_UP: Duration = Duration::from_secs(30);

/// What handling an event came to.
pub enum Handled {
    /// Handled, or failed for a reason already logged.
    Done,
    /// No pooled instance was free; worth another try.
    Busy,
}

/// Events of message triggers one app handles at once: eight per core, at most the
/// instance limit.
pub fn message_concurrency(max_concurrent_instances: u32) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 8).min(max_concurrent_instances.max(1) as usize)
}

/// Waits for a slot and an instance permit, then runs `handle` on its own task (again,
/// after a pause, while it reports [`Handled::Busy`]).
pub async fn deliver<F, Fut>(app: &Arc<PreparedApp>, component: &str, handle: F)
where
    F: Fn(Arc<PreparedApp>) -> Fut + Send + 'static,
    Fut: Future<Output = Handled> + Send,
{
    let Ok(slot) = app.message_slots.clone().acquire_owned().await else {
        return;
    };
    let Ok(permit) = app.instances.clone().acquire_owned().await else {
        return;
    };
    let (app, component) = (app.clone(), component.to_string());
    tokio::spawn(async move {
        let _held = (slot, permit);
        let started = Instant::now();
        while let Handled::Busy = handle(app.clone()).await {
            if started.elapsed() > GIVE_UP {
                tracing::error!(
                    component,
                    "event dropped: no instance was free for {GIVE_UP:?}"
                );
                return;
            }
            tokio::time::sleep(RETRY).await;
        }
    });
}

/// Runs one event in a fresh instance of component `id`: `call` instantiates trigger
/// `T`'s pre-instantiated handler of the component and calls it, returning the guest's
/// own error if it reported one. The request timeout applies; every failure is logged
/// naming the component (and marks the event's span failed), except a full instance
/// pool, which is [`Handled::Busy`]. The component's run is a span under `event`.
pub async fn run_event<T: Trigger>(
    app: &PreparedApp,
    id: &str,
    what: &str,
    mut event: TraceSpan,
    call: impl AsyncFnOnce(&T::Handler, &mut Store<RequestState>) -> wasmtime::Result<Option<String>>,
) -> Handled {
    let code = app.code();
    let Some(component) = code.components.get(id) else {
        return Handled::Done;
    };
    let Some(pre) = component.handler::<T>() else {
        return Handled::Done;
    };
    let run_span = component_span(&event, id);
    let mut store = match new_store(code.engine.engine(), &component.host, run_span.parent()) {
        Ok(store) => store,
        Err(e) => {
            Failure::Trap(format!("cannot set up the instance: {e}")).log(id);
            return Handled::Done;
        }
    };
    let timeout = app.config.request_timeout;
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(timeout, call(pre, &mut store)).await;
    drop(run_span);
    let elapsed = started.elapsed();
    match outcome {
        Ok(Ok(None)) => tracing::debug!(component = id, "{what} handled"),
        Ok(Ok(Some(error))) => {
            tracing::error!(
                component = id,
                "the component failed to handle {what}: {error}"
            );
            event.fail(error);
        }
        Ok(Err(e)) => match Failure::classify(e, store.data()) {
            Failure::Busy(_) => return Handled::Busy,
            failure => {
                failure.log(id);
                event.fail(failure.to_string());
            }
        },
        Err(_) => {
            let failure = Failure::Timeout(timeout);
            failure.log(id);
            event.fail(failure.to_string());
        }
    }
    // A busy pool's event is tried again; only the try that ran is counted.
    app.telemetry.record_request(T::TYPE, id, elapsed, None);
    Handled::Done
}

/// The span of one message from a broker (`{channel} receive`, kind consumer), as
/// OpenTelemetry's messaging conventions name it.
pub fn message_span(app: &PreparedApp, system: &'static str, channel: &str) -> TraceSpan {
    app.telemetry.event_span(
        || format!("{} receive", crate::telemetry::cut(channel)),
        opentelemetry::trace::SpanKind::Consumer,
        || {
            vec![
                opentelemetry::KeyValue::new("messaging.system", system),
                opentelemetry::KeyValue::new("messaging.operation.type", "receive"),
                crate::telemetry::text("messaging.destination.name", channel),
            ]
        },
    )
}
