//! Running all of an app's triggers together, as one process (or one pod) does: the
//! HTTP server when the app has routes, the Redis and MQTT subscriptions, the cron
//! schedules and the command. A trigger that fails for good stops the whole app with
//! its reason, as in Spin and SpinKube; a finished command ends the app with its
//! status.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::http::HttpServer;
use super::mqtt::MqttTriggerError;
use super::redis::RedisTriggerError;
use super::{command, cron, mqtt, redis};
use crate::PreparedApp;

/// Why a trigger stopped the app.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error(transparent)]
    Redis(#[from] RedisTriggerError),
    #[error(transparent)]
    Mqtt(#[from] MqttTriggerError),
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
/// (its error); in every case HTTP then drains for up to `drain`. `http` is the bound
/// server, `None` when the app has no HTTP route.
pub async fn run_triggers(
    app: Arc<PreparedApp>,
    http: Option<HttpServer>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> Result<Ended, TriggerError> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let on_stop = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let serving = async {
        if let Some(server) = http {
            server.serve(on_stop(stopped.clone()), drain).await;
        }
    };
    let watching = async {
        let running_command = async {
            match &app.command {
                Some(id) => command::run(&app, id).await,
                None => std::future::pending().await,
            }
        };
        let ended = tokio::select! {
            () = shutdown => Ok(Ended::Stopped),
            result = redis::run(app.clone(), on_stop(stopped.clone())) => {
                result.map(|()| Ended::Stopped).map_err(Into::into)
            }
            result = mqtt::run(app.clone()) => result.map(|()| Ended::Stopped).map_err(Into::into),
            status = running_command => Ok(Ended::Exited(status)),
            () = cron::run(app.clone()) => Ok(Ended::Stopped),
        };
        let _ = stop.send(true);
        ended
    };
    let ((), ended) = tokio::join!(serving, watching);
    ended
}
