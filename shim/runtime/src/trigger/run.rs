//! Running all of an app's triggers together, as one process (or one pod) does: the
//! HTTP server when the app has routes, the Redis and MQTT subscriptions, the cron
//! schedules and the command. A trigger that fails for good stops the whole app with
//! its reason, as in Spin and SpinKube; a finished command ends the app with its
//! status.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::http::HttpServer;
use crate::PreparedApp;

/// Why a trigger stopped the app: its own error, which names its server.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct TriggerError {
    /// The type of the trigger that failed.
    pub trigger_type: &'static str,
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// How the triggers ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// `shutdown` completed.
    Stopped,
    /// The command trigger finished with this exit status.
    Exited(i32),
}

/// Runs until `shutdown` completes, the command finishes, or a trigger fails for good
/// (its error); in every case HTTP then drains for up to `drain`, and queued spans are
/// exported. `http` is the bound
/// server, `None` when the app has no HTTP route.
pub async fn run_triggers(
    app: Arc<PreparedApp>,
    http: Option<HttpServer>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> Result<Ended, TriggerError> {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let serving = async {
        if let Some(server) = http {
            let stopping = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            server.serve(stopping, drain).await;
        }
    };
    let watching = async {
        let mut running: FuturesUnordered<_> = app
            .triggers()
            .map(|trigger| trigger.clone().run(app.clone()))
            .collect();
        let ended = tokio::select! {
            () = shutdown => Ok(Ended::Stopped),
            Some(ended) = running.next() => ended,
        };
        let _ = stop.send(true);
        ended
    };
    let ((), ended) = tokio::join!(serving, watching);
    // The last spans (the drained requests') go to the collector before the app ends.
    app.telemetry.shutdown(TELEMETRY_FLUSH).await;
    ended
}

/// Longest the export of the last spans may hold up an app's end.
const TELEMETRY_FLUSH: Duration = Duration::from_secs(5);
