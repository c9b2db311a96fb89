//! The error of an environment setting (a runtime limit, an `OTEL_*` variable).

/// A setting that could not be read: names the variable, the value and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name}={value:?}: {problem}")]
pub struct SettingError {
    pub name: String,
    pub value: String,
    pub problem: String,
}
