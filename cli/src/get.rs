//! `get NAME`: one app's state — image, executor, replicas, conditions with reasons and
//! messages, where its Service answers, and its recent Warning events.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, Service};
use kube::api::{Api, ListParams};
use spin_crds::SpinApp;

use crate::cluster::{SPINAPPS, Target};
use crate::error::ClusterError;
use crate::{address, readiness, table};

/// Warning events shown, most recent last.
pub const MAX_WARNINGS: usize = 10;

/// What `get` shows about one app.
pub struct Report {
    pub app: SpinApp,
    pub service: Option<Service>,
    /// The app's Warning events, oldest first; `Err` says why they could not be read.
    pub warnings: Result<Vec<Event>, String>,
}

/// The SpinApp `name`, its Service and its Warning events.
pub async fn fetch_app(target: &Target, name: &str) -> Result<SpinApp, ClusterError> {
    let api: Api<SpinApp> = Api::namespaced(target.client.clone(), &target.namespace);
    api.get(name)
        .await
        .map_err(|e| target.refused(e, "get", SPINAPPS, Some(name)))
}

/// Everything [`render`] shows about `name`.
pub async fn report(target: &Target, name: &str) -> Result<Report, ClusterError> {
    let app = fetch_app(target, name).await?;
    let service = address::service(target, name).await?;
    let warnings = warnings(target, name).await.map_err(|e| e.to_string());
    Ok(Report {
        app,
        service,
        warnings,
    })
}

/// The app's Warning events, oldest first, at most [`MAX_WARNINGS`].
async fn warnings(target: &Target, name: &str) -> Result<Vec<Event>, ClusterError> {
    let api: Api<Event> = Api::namespaced(target.client.clone(), &target.namespace);
    let selector = format!("involvedObject.kind=SpinApp,involvedObject.name={name},type=Warning");
    let mut events = api
        .list(&ListParams::default().fields(&selector))
        .await
        .map_err(|e| target.refused(e, "list", "events", None))?
        .items;
    events.sort_by_key(last_seen);
    let skip = events.len().saturating_sub(MAX_WARNINGS);
    Ok(events.split_off(skip))
}

fn last_seen(event: &Event) -> Option<Timestamp> {
    event
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The report as text, like `kubectl describe` but shorter.
pub fn render(report: &Report, now: Timestamp) -> String {
    let app = &report.app;
    let status = app.status.clone().unwrap_or_default();
    let desired = if app.spec.enable_autoscaling {
        "autoscaled".to_string()
    } else {
        app.spec.replicas.unwrap_or(1).to_string()
    };
    let executor = app
        .spec
        .executor
        .clone()
        .or(status.active_scheduler.clone())
        .unwrap_or_else(|| "<none>".into());
    let address = match &report.service {
        Some(service) => address::of(service).to_string(),
        None => "none yet (the operator creates the Service with the Deployment)".into(),
    };
    let mut out = format!(
        "Name:        {}\nNamespace:   {}\nImage:       {}\nExecutor:    {executor}\nReplicas:    {} ready, {desired} desired\nAddress:     {address}\n",
        app.metadata.name.as_deref().unwrap_or_default(),
        app.metadata.namespace.as_deref().unwrap_or_default(),
        app.spec.image,
        status.ready_replicas,
    );
    out.push_str("Conditions:");
    if status.conditions.is_empty() {
        out.push_str(&format!(" {}\n", readiness::NO_STATUS));
    } else {
        out.push('\n');
        let rows: Vec<Vec<String>> = status
            .conditions
            .iter()
            .map(|c| {
                vec![
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                ]
            })
            .collect();
        out.push_str(&indent(&table::render(
            &["TYPE", "STATUS", "REASON", "MESSAGE"],
            &rows,
        )));
    }
    out.push_str("Warnings:");
    match &report.warnings {
        Err(why) => out.push_str(&format!(" not shown: {why}\n")),
        Ok(events) if events.is_empty() => out.push_str(" none\n"),
        Ok(events) => {
            out.push('\n');
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    vec![
                        table::age(last_seen(e), now),
                        e.reason.clone().unwrap_or_default(),
                        e.message.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            out.push_str(&indent(&table::render(
                &["AGE", "REASON", "MESSAGE"],
                &rows,
            )));
        }
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
