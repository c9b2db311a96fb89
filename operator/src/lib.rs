//! The SpinApp operator.
//!
//! Reconciling a SpinApp goes `dereference → validate → build → apply → status`. This
//! crate holds the steps that need no API server: [`validate`] (every problem names the
//! field to fix) and [`build`] (the desired Deployment and Service, as pure functions,
//! tested from inline YAML against golden files).

pub mod build;
pub mod labels;
pub mod validate;

pub use build::{Desired, ReferencedConfig, build};
pub use validate::{ValidationError, validate};
