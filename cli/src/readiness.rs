//! What a SpinApp's status says about readiness, in one line for progress and errors.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use spin_crds::SpinApp;

/// What is said before the operator has written any status.
pub const NO_STATUS: &str = "no status yet: is the spin-operator running?";

/// The app's `Ready` condition, if the operator has reported on its current generation.
pub fn ready_condition(app: &SpinApp) -> Option<&Condition> {
    let generation = app.metadata.generation.unwrap_or(0);
    app.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.observed_generation.unwrap_or(0) >= generation)
    })
}

/// `Ready=False ReplicasNotReady: 0/2 replicas ready`, that the operator has not yet
/// seen the current spec, or [`NO_STATUS`].
pub fn summary(app: &SpinApp) -> String {
    match ready_condition(app) {
        Some(c) => format!("Ready={} {}: {}", c.status, c.reason, c.message),
        None => waiting(app),
    }
}

/// Why there is no `Ready` condition for the current generation.
pub fn waiting(app: &SpinApp) -> String {
    let reported = app
        .status
        .as_ref()
        .is_some_and(|s| !s.conditions.is_empty());
    if reported {
        format!(
            "the operator has not yet reported on generation {} of the spec",
            app.metadata.generation.unwrap_or(0)
        )
    } else {
        NO_STATUS.to_string()
    }
}
