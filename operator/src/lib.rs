//! The SpinApp operator.
//!
//! Reconciling a SpinApp goes `dereference → validate → build → apply → status`. This
//! crate holds the steps that need no API server: [`validate`] (every problem names the
//! field to fix) and [`build`] (in [`desired`]: the Deployment and Service, as pure functions,
//! tested from inline YAML against golden files), and [`reconcile`], which drives them
//! through the API (tested against an in-memory API server).

pub mod controller;
pub mod desired;
pub mod executor_guard;
pub mod http;
pub mod labels;
pub mod leader;
pub mod metrics;
pub mod rbac;
pub mod reconcile;
pub mod references;
pub mod status;
pub mod validate;

pub use desired::{Desired, ReferencedConfig, build};
pub use validate::{ValidationError, validate};
