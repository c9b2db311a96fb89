//! The Spin runtime: serves a Spin app's HTTP trigger on Wasmtime, with a fresh
//! isolated instance per request. Used by the local runner (`spin-run`) and by the
//! containerd shim; it knows nothing about containerd.
//!
//! ```text
//! LockedApp ─ PreparedApp::prepare ─▶ components compiled once (InstancePre)
//!          ─ trigger::http::serve ──▶ request ─▶ route ─▶ new Store ─▶ guest handler
//! ```

pub mod app;
mod bounded_body;
pub mod cache_bound;
pub mod code;
pub mod config;
pub mod content;
pub mod engine;
mod error;
mod files;
mod heap;
pub mod host;
pub mod log_queue;
pub mod network;
pub mod runtime_config_file;
mod setting_error;
pub mod telemetry;
pub mod tls;
pub mod trigger;

pub use app::PreparedApp;
pub use config::RuntimeConfig;
pub use error::RuntimeError;
