//! Spin apps in OCI registries, shared by `spin kube` (push, and reading a deployed
//! app's routes) and `spin-run` (running an app straight from a registry, as the
//! `spinImage` executor's pods do):
//! - [`credentials`]: registry credentials from Docker config files (`docker login`,
//!   or an image pull secret of type `kubernetes.io/dockerconfigjson` mounted as a file);
//! - [`access`]: how to reach a registry (HTTPS, plain HTTP for loopback registries or
//!   with `--insecure`);
//! - [`pull`]: the locked app, and the whole app into a digest-verified blob cache;
//! - [`remote_source`]: components whose `source` is a URL, fetched into the same cache;
//! - [`package_source`] and [`package_config`]: components and dependencies that are
//!   Wasm packages in (OCI) package registries, found as wasm-pkg finds them;
//! - [`sources`]: both of those for one app, before it is locked;
//! - [`error`]: what went wrong and what to do about it.

pub mod access;
pub mod credentials;
pub mod error;
pub mod package_config;
pub mod package_source;
pub mod pull;
pub mod remote_source;
pub mod sources;

pub use access::Registry;
pub use error::RegistryError;
pub use oci_client::Reference;
pub use oci_client::secrets::RegistryAuth;
