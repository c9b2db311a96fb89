//! SpinApp status: ready replicas, the active executor, the names of the Deployment and
//! Service, and the `Available`,
//! `Progressing` and `Ready` conditions. A condition keeps its transition time while its
//! status does not change, so repeated reconciles do not churn the object.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use spin_crds::{SpinApp, SpinAppExecutor, SpinAppStatus};

use crate::labels;

/// A problem the user must fix, reported in status and as an Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    /// CamelCase reason for the condition and the Event.
    pub reason: &'static str,
    /// Names the field to fix.
    pub message: String,
    /// Look again after this long (something may get created); `None` waits for a change.
    pub retry: Option<Duration>,
}

/// What apply left in the cluster.
pub enum Observed {
    Deployment(Box<Deployment>),
    /// The executor does not create Deployments; only the Service is managed.
    ServiceOnly,
}

pub fn compute(app: &SpinApp, executor: &SpinAppExecutor, observed: &Observed) -> SpinAppStatus {
    let executor_name = executor.name_any();
    let (ready, conditions) = match observed {
        Observed::ServiceOnly => (
            0,
            vec![
                condition(
                    app,
                    "Available",
                    true,
                    "ServiceOnly",
                    &format!(
                        "executor {executor_name} runs the app; only its Service is managed here"
                    ),
                ),
                condition(
                    app,
                    "Progressing",
                    false,
                    "ServiceOnly",
                    "nothing to roll out",
                ),
                condition(app, "Ready", true, "ServiceOnly", "Service applied"),
            ],
        ),
        Observed::Deployment(d) => {
            let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let st = d.status.clone().unwrap_or_default();
            let ready = st.ready_replicas.unwrap_or(0);
            let updated = st.updated_replicas.unwrap_or(0);
            let progress = format!("{ready}/{desired} replicas ready");
            let all_ready = ready >= desired;
            (
                ready,
                vec![
                    condition(
                        app,
                        "Available",
                        ready > 0 || desired == 0,
                        if ready > 0 || desired == 0 {
                            "MinimumReplicasAvailable"
                        } else {
                            "NoReplicasAvailable"
                        },
                        &progress,
                    ),
                    condition(
                        app,
                        "Progressing",
                        !all_ready || updated < desired,
                        if all_ready {
                            "RolloutComplete"
                        } else {
                            "RollingOut"
                        },
                        &progress,
                    ),
                    condition(
                        app,
                        "Ready",
                        all_ready,
                        if all_ready {
                            "AllReplicasReady"
                        } else {
                            "ReplicasNotReady"
                        },
                        &progress,
                    ),
                ],
            )
        }
    };
    let name = app.name_any();
    let replicas = match observed {
        Observed::Deployment(d) => d.status.as_ref().and_then(|s| s.replicas),
        Observed::ServiceOnly => None,
    };
    let selector = labels::selector(&name)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    SpinAppStatus {
        conditions,
        active_scheduler: Some(executor_name),
        ready_replicas: ready,
        replicas: Some(replicas.unwrap_or(0)),
        selector: Some(selector),
        deployment_name: matches!(observed, Observed::Deployment(_)).then(|| name.clone()),
        service_name: Some(name),
    }
}

/// Status of an app that cannot be built: `Ready=False` with the problem.
pub fn failed(app: &SpinApp, problem: &UserError) -> SpinAppStatus {
    let previous = app.status.clone().unwrap_or_default();
    let mut conditions: Vec<Condition> = previous
        .conditions
        .into_iter()
        .filter(|c| c.type_ != "Ready")
        .collect();
    conditions.push(condition(
        app,
        "Ready",
        false,
        problem.reason,
        &problem.message,
    ));
    SpinAppStatus {
        conditions,
        ..previous
    }
}

fn condition(app: &SpinApp, type_: &str, status: bool, reason: &str, message: &str) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let since = app
        .status
        .as_ref()
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
        })
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(k8s_openapi::jiff::Timestamp::now()));
    Condition {
        type_: type_.into(),
        status,
        reason: reason.into(),
        message: message.into(),
        last_transition_time: since,
        observed_generation: app.metadata.generation,
    }
}
