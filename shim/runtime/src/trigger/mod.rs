//! The triggers: HTTP (the server and calling guest handlers; routing is Spin's, in
//! [`spin_app::routes`]) Redis and MQTT (subscriptions calling guest handlers per message) and command (one run of
//! `wasi:cli/run`) and cron (a run per scheduled time).

pub mod command;
pub mod cron;
pub mod delivery;
pub mod handler;
pub mod http;
pub mod mqtt;
pub mod redis;
pub mod run;
pub mod service_chaining;
mod settings;
