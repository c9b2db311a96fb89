//! The Spin application model, shared by the runtime, the shim and the `spin kube` CLI.
//!
//! Two inputs describe a Spin app:
//! - `spin.toml`, manifest version 2 ([`manifest`]), written by developers (version 1
//!   is converted on load, [`manifest_v1`]);
//! - the locked app JSON ([`locked`]), `spin_lock_version` 0 or 1, which Spin writes
//!   into the OCI config blob and which is what the runtime actually executes.
//!
//! [`load`] turns a manifest into a locked app whose sources are `file://` URLs.
//! Every error names the file, the field and what to change ([`AppError`]).

pub mod allowed_hosts;
pub mod allowed_http_hosts;
mod app_file;
pub mod cache_root;
pub mod dependency_name;
pub mod digest;
mod error;
pub mod ids;
pub mod inherit;
pub mod load;
pub mod locked;
pub mod manifest;
pub mod manifest_v1;
pub mod middleware;
pub mod node_config;
pub mod oci;
pub mod package;
pub mod routes;
pub mod runtime_config;
pub mod settings;
pub mod template;

pub use cache_root::user_cache_root;
pub use digest::Sha256Digest;
pub use error::AppError;
pub use load::{load_app, load_app_fetched, load_manifest_file, sources_to_fetch};
pub use locked::LockedApp;
