//! Keeps a SpinAppExecutor while apps use it: every executor carries the finalizer
//! [`FINALIZER`]; when one is deleted, the finalizer is removed only once no SpinApp in
//! its namespace runs on it (by name, or by default, as its status's `activeScheduler`
//! records). Until then a Warning event names the apps.

use std::sync::Arc;

use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;
use spin_crds::{SpinApp, SpinAppExecutor};

use crate::reconcile::{Context, ReconcileError, WAIT_FOR_REFERENCE};

/// The finalizer the operator puts on every executor.
pub const FINALIZER: &str = "spin-kube.dev/executor-in-use";

/// The name of the executor `app` runs on: the one it names, else the one the operator
/// chose for it.
pub fn executor_of(app: &SpinApp) -> Option<String> {
    app.spec
        .executor
        .clone()
        .or_else(|| app.status.as_ref().and_then(|s| s.active_scheduler.clone()))
}

/// The executor an app change concerns.
pub fn executor_ref(app: &SpinApp) -> Option<ObjectRef<SpinAppExecutor>> {
    let namespace = app.namespace()?;
    Some(ObjectRef::new(&executor_of(app)?).within(&namespace))
}

/// Adds the finalizer to a live executor; on a deleted one, removes it once no app uses
/// the executor, and otherwise says which apps do.
pub async fn reconcile_executor(
    executor: Arc<SpinAppExecutor>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let ns = executor.namespace().ok_or(ReconcileError::NoNamespace)?;
    let name = executor.name_any();
    let executors: Api<SpinAppExecutor> = Api::namespaced(ctx.client.clone(), &ns);
    let finalizers = executor.finalizers();
    let has_ours = finalizers.iter().any(|f| f == FINALIZER);
    if executor.meta().deletion_timestamp.is_none() {
        if !has_ours {
            let mut with_ours = finalizers.to_vec();
            with_ours.push(FINALIZER.to_string());
            set_finalizers(&executors, &executor, with_ours).await?;
        }
        return Ok(Action::await_change());
    }
    if !has_ours {
        return Ok(Action::await_change());
    }
    let apps: Api<SpinApp> = Api::namespaced(ctx.client.clone(), &ns);
    let users: Vec<String> = apps
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|app| executor_of(app).as_deref() == Some(name.as_str()))
        .map(|app| app.name_any())
        .collect();
    if users.is_empty() {
        let rest = finalizers
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        set_finalizers(&executors, &executor, rest).await?;
        return Ok(Action::await_change());
    }
    let event = Event {
        type_: EventType::Warning,
        reason: "ExecutorInUse".into(),
        note: Some(format!(
            "SpinAppExecutor {name} is kept until no SpinApp in namespace {ns} runs on it; still used by: {}",
            users.join(", ")
        )),
        action: "Delete".into(),
        secondary: None,
    };
    if let Err(e) = ctx
        .recorder
        .publish(&event, &executor.object_ref(&()))
        .await
    {
        tracing::warn!("could not publish an Event: {e}");
    }
    // App changes trigger this too; the requeue is a safety net.
    Ok(Action::requeue(WAIT_FOR_REFERENCE))
}

async fn set_finalizers(
    executors: &Api<SpinAppExecutor>,
    executor: &SpinAppExecutor,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    // A merge patch replaces the list; the resourceVersion makes it fail rather than
    // drop a finalizer another controller added meanwhile.
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": executor.resource_version(),
    }});
    executors
        .patch(
            &executor.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}
