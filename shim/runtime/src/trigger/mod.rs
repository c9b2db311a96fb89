//! The triggers: HTTP (the server and calling guest handlers; routing is Spin's, in
//! [`spin_app::routes`]), Redis and MQTT (subscriptions calling guest handlers per
//! message), command (one run of `wasi:cli/run`) and cron (a run per scheduled time).
//! Each implements [`trigger_type::Trigger`] and is listed once in
//! [`trigger_type`]; [`run::run_triggers`] runs an app's together.

pub mod command;
pub mod cron;
pub mod delivery;
pub mod entry_point;
pub mod handler;
pub mod http;
pub mod mqtt;
pub mod redis;
pub mod run;
pub mod service_chaining;
mod settings;
pub mod trigger_type;
