//! Prometheus metrics of the operator, served on `/metrics`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Reconcile counts by result, failures by stable reason, and durations.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    failures: Family<ReasonLabel, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("spin_operator");
        let reconciles = Family::<ResultLabel, Counter>::default();
        let failures = Family::<ReasonLabel, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "reconciles",
            "Reconciles of SpinApps, by result (ok, user_error, error)",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciles that did not reach the desired state, by reason (e.g. ExecutorNotFound, api)",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            duration.clone(),
        );
        Self {
            registry,
            reconciles,
            failures,
            duration,
        }
    }
}

/// How a reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The user must fix something; the reason is the condition's.
    UserError(&'static str),
    /// The API failed; the reason is a stable label.
    Error(&'static str),
}

impl Metrics {
    pub fn record(&self, outcome: Outcome, took: Duration) {
        self.duration.observe(took.as_secs_f64());
        let (result, reason) = match outcome {
            Outcome::Ok => ("ok", None),
            Outcome::UserError(r) => ("user_error", Some(r)),
            Outcome::Error(r) => ("error", Some(r)),
        };
        self.reconciles.get_or_create(&ResultLabel { result }).inc();
        if let Some(reason) = reason {
            self.failures.get_or_create(&ReasonLabel { reason }).inc();
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_by_result_and_reason() {
        let m = Metrics::default();
        m.record(Outcome::Ok, Duration::from_millis(2));
        m.record(
            Outcome::UserError("ExecutorNotFound"),
            Duration::from_millis(1),
        );
        m.record(Outcome::Error("api"), Duration::from_millis(1));
        let text = m.render();
        assert!(
            text.contains("spin_operator_reconciles_total{result=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("spin_operator_reconcile_failures_total{reason=\"ExecutorNotFound\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("spin_operator_reconcile_failures_total{reason=\"api\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("spin_operator_reconcile_duration_seconds_count 3"),
            "{text}"
        );
    }
}
