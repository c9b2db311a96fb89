//! The triggers: HTTP (the server and calling guest handlers; routing is Spin's, in
//! [`spin_app::routes`]), Redis and MQTT (subscriptions calling guest handlers per
//! message), command (one run of `wasi:cli/run`) and cron (a run per scheduled time).
//! Each implements [`trigger_type::Trigger`] and is listed once here, in
//! [`TRIGGER_TYPES`]: the app, the compiler and the run loop go through
//! [`read_triggers`] and know no trigger by name. [`run::run_triggers`] runs an app's
//! triggers together.

pub mod command;
pub mod cron;
pub mod delivery;
pub mod entry_point;
pub mod handler;
pub mod http;
pub mod mqtt;
pub mod redis;
pub mod run;
mod settings;
pub mod trigger_type;

use std::sync::Arc;

use spin_app::LockedApp;

use crate::RuntimeError;
use command::CommandTrigger;
use cron::CronTrigger;
use http::HttpTrigger;
use mqtt::MqttTrigger;
use redis::RedisTrigger;
use trigger_type::{AppTrigger, AppValues, Trigger};

/// Reads one trigger type's entries.
type ReadTrigger = fn(&LockedApp, &AppValues) -> Result<Option<Arc<dyn AppTrigger>>, RuntimeError>;

fn read_as<T: Trigger>(
    app: &LockedApp,
    values: &AppValues,
) -> Result<Option<Arc<dyn AppTrigger>>, RuntimeError> {
    Ok(T::read(app, values)?.map(|t| Arc::new(t) as Arc<dyn AppTrigger>))
}

/// Every trigger type this runtime runs, in the order they are read and listed.
const TRIGGER_TYPES: [(&str, ReadTrigger); 5] = [
    (HttpTrigger::TYPE, read_as::<HttpTrigger>),
    (RedisTrigger::TYPE, read_as::<RedisTrigger>),
    (MqttTrigger::TYPE, read_as::<MqttTrigger>),
    (CommandTrigger::TYPE, read_as::<CommandTrigger>),
    (CronTrigger::TYPE, read_as::<CronTrigger>),
];

/// The app's triggers, one per type it lists; an entry of a type this runtime does not
/// run is refused, naming the types it does.
pub fn read_triggers(
    app: &LockedApp,
    values: &AppValues,
) -> Result<Vec<Arc<dyn AppTrigger>>, RuntimeError> {
    let known = |kind: &str| TRIGGER_TYPES.iter().any(|(t, _)| *t == kind);
    if let Some(unknown) = app.triggers.iter().find(|t| !known(&t.trigger_type)) {
        let names: Vec<_> = TRIGGER_TYPES
            .iter()
            .map(|(t, _)| format!("`{t}`"))
            .collect();
        let (last, rest) = names.split_last().expect("the list is not empty");
        return Err(RuntimeError::Trigger {
            trigger: unknown.id.clone(),
            problem: format!(
                "trigger type `{}` is not supported; this runtime runs {} and {last} triggers",
                unknown.trigger_type,
                rest.join(", ")
            ),
        });
    }
    TRIGGER_TYPES
        .iter()
        .filter_map(|(_, read)| read(app, values).transpose())
        .collect()
}
