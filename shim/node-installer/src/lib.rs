//! `spin-node-installer`: puts `containerd-shim-spin-v2` on a Kubernetes node and makes
//! the node's containerd serve the RuntimeClass handler `spin` with it.
//!
//! Steps, each idempotent: [`host::find_config`] (plain containerd, k3s or rke2) →
//! [`config_edit::add_spin_runtime`] (in memory; a malformed config stops here, left
//! untouched) → copy the shim when its bytes differ → write the config when it changed →
//! [`restart::restart`] containerd only then → [`label::label_node`].

pub mod config_edit;
pub mod host;
pub mod install;
pub mod label;
pub mod restart;
