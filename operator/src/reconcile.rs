//! One reconcile of a SpinApp: dereference → validate → build → apply → status.
//!
//! Problems the user must fix (an unknown executor, a missing Secret, an invalid spec)
//! are reported as a `Ready=False` condition and a Warning Event naming the field, and
//! retried slowly or on the next change, never in a hot loop. API failures are errors
//! for the controller's `error_policy` to back off on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapKeySelector, Secret, SecretKeySelector, Service,
};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use spin_crds::{SpinApp, SpinAppExecutor};

use crate::desired::{ReferencedConfig, build, runtime_config};
use crate::labels::MANAGER;
use crate::metrics::{Metrics, Outcome};
use crate::status::{self, Observed, UserError};
use crate::validate::validate;

/// How often a healthy app is looked at again without any change.
pub const RESYNC: Duration = Duration::from_secs(300);
/// How soon an app waiting for something to be created is looked at again.
pub const WAIT_FOR_REFERENCE: Duration = Duration::from_secs(30);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
}

impl Context {
    /// A context whose Events name this operator (and `instance`, the replica, if given).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics: Arc::default(),
        }
    }
}

/// Failures of the API calls themselves; the controller backs off and retries.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
    #[error("the SpinApp has no namespace")]
    NoNamespace,
}

impl ReconcileError {
    /// A stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Api(_) => "api",
            ReconcileError::NoNamespace => "no_namespace",
        }
    }
}

/// Reconciles one SpinApp and records the outcome in the metrics.
pub async fn reconcile(app: Arc<SpinApp>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let result = reconcile_app(&app, &ctx).await;
    let outcome = match &result {
        Ok((_, outcome)) => *outcome,
        Err(e) => Outcome::Error(e.reason()),
    };
    ctx.metrics.record(outcome, started.elapsed());
    result.map(|(action, _)| action)
}

async fn reconcile_app(app: &SpinApp, ctx: &Context) -> Result<(Action, Outcome), ReconcileError> {
    let ns = app.namespace().ok_or(ReconcileError::NoNamespace)?;
    let name = app.name_any();
    let (executor, config) = match dereference(app, &ns, &ctx.client).await? {
        Ok(found) => found,
        Err(problem) => return report(app, ctx, problem).await,
    };
    let errors = validate(app, &executor);
    if !errors.is_empty() {
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let problem = UserError {
            reason: "InvalidSpec",
            message,
            retry: None,
        };
        return report(app, ctx, problem).await;
    }

    let desired = build(app, &executor, &config);
    let apply = PatchParams::apply(MANAGER).force();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    // Applying is forced, so an object of the same name that is not this app's would be
    // taken over (and deleted with the app): such a name is the user's to change.
    let secret_name = runtime_config::secret_name(app);
    let taken = [
        match desired.runtime_config {
            Some(_) => taken_name(&secrets, &secret_name, app).await?,
            None => None,
        },
        taken_name(&services, &name, app).await?,
        match desired.deployment {
            Some(_) => taken_name(&deployments, &name, app).await?,
            None => None,
        },
    ];
    if let Some(problem) = taken.into_iter().flatten().next() {
        return report(app, ctx, problem).await;
    }
    if let Some(secret) = &desired.runtime_config {
        secrets
            .patch(&secret_name, &apply, &Patch::Apply(secret))
            .await?;
    }
    services
        .patch(&name, &apply, &Patch::Apply(&desired.service))
        .await?;
    let observed = match &desired.deployment {
        Some(deployment) => {
            let applied = deployments
                .patch(&name, &apply, &Patch::Apply(deployment))
                .await?;
            Observed::Deployment(Box::new(applied))
        }
        None => Observed::ServiceOnly,
    };
    let status = status::compute(app, &executor, &observed);
    patch_status(app, &ctx.client, &ns, json!({ "status": status })).await?;
    tracing::debug!(%ns, %name, "reconciled");
    Ok((Action::requeue(RESYNC), Outcome::Ok))
}

/// `Some` when an object named `name` exists that this app does not control (no
/// controller owner reference with the app's uid): the operator leaves it alone.
async fn taken_name<K>(
    api: &Api<K>,
    name: &str,
    app: &SpinApp,
) -> Result<Option<UserError>, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Some(existing) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let ours = existing
        .meta()
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && app.meta().uid.as_ref() == Some(&r.uid));
    if ours {
        return Ok(None);
    }
    let kind = K::kind(&());
    Ok(Some(UserError {
        reason: "NameTaken",
        message: format!(
            "{kind} {ns}/{name} already exists and does not belong to this SpinApp, so the \
             operator leaves it alone; rename the SpinApp (metadata.name) or remove the {kind}",
            ns = app.namespace().unwrap_or_default()
        ),
        retry: Some(WAIT_FOR_REFERENCE),
    }))
}

/// Requeue policy for API failures: a short, fixed back-off.
pub fn error_policy(app: Arc<SpinApp>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(app = %app.name_any(), %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Marks the executor an app without `spec.executor` gets when its namespace has
/// several (value `"true"`). Our own annotation; SpinKube picks one with a webhook.
pub const DEFAULT_EXECUTOR_ANNOTATION: &str = "spin-kube.dev/default-executor";

fn is_marked_default(executor: &SpinAppExecutor) -> bool {
    executor
        .annotations()
        .get(DEFAULT_EXECUTOR_ANNOTATION)
        .is_some_and(|v| v == "true")
}

async fn report(
    app: &SpinApp,
    ctx: &Context,
    problem: UserError,
) -> Result<(Action, Outcome), ReconcileError> {
    let ns = app.namespace().ok_or(ReconcileError::NoNamespace)?;
    tracing::warn!(app = %app.name_any(), %ns, reason = problem.reason, "{}", problem.message);
    let status = status::failed(app, &problem);
    patch_status(app, &ctx.client, &ns, json!({ "status": status })).await?;
    let event = Event {
        type_: EventType::Warning,
        reason: problem.reason.into(),
        note: Some(problem.message.clone()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &app.object_ref(&())).await {
        tracing::warn!("could not publish an Event: {e}");
    }
    let action = problem
        .retry
        .map(Action::requeue)
        .unwrap_or_else(Action::await_change);
    Ok((action, Outcome::UserError(problem.reason)))
}

async fn patch_status(
    app: &SpinApp,
    client: &Client,
    ns: &str,
    patch: serde_json::Value,
) -> Result<(), kube::Error> {
    let apps: Api<SpinApp> = Api::namespaced(client.clone(), ns);
    apps.patch_status(
        &app.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(drop)
}

/// A `secretKeyRef` or `configMapKeyRef`.
enum KeyRef<'a> {
    Secret(&'a SecretKeySelector),
    ConfigMap(&'a ConfigMapKeySelector),
}

impl<'a> KeyRef<'a> {
    /// The references a `valueFrom` holds.
    fn of(
        secret: Option<&'a SecretKeySelector>,
        config_map: Option<&'a ConfigMapKeySelector>,
    ) -> Vec<Self> {
        secret
            .map(KeyRef::Secret)
            .into_iter()
            .chain(config_map.map(KeyRef::ConfigMap))
            .collect()
    }

    /// `Secret/NAME/KEY` or `ConfigMap/NAME/KEY`.
    fn source(&self) -> String {
        let (kind, name, key) = self.parts();
        format!("{kind}/{name}/{key}")
    }

    /// The object's kind, name and key.
    fn parts(&self) -> (&'static str, &str, &str) {
        match self {
            KeyRef::Secret(sel) => ("Secret", &sel.name, &sel.key),
            KeyRef::ConfigMap(sel) => ("ConfigMap", &sel.name, &sel.key),
        }
    }

    fn optional(&self) -> bool {
        match self {
            KeyRef::Secret(sel) => sel.optional == Some(true),
            KeyRef::ConfigMap(sel) => sel.optional == Some(true),
        }
    }
}

/// Reads referenced keys in the app's namespace.
struct KeyReader<'a> {
    secrets: &'a Api<Secret>,
    config_maps: &'a Api<ConfigMap>,
    ns: &'a str,
    /// The uids of the Secrets read, which key the config hash.
    secret_uids: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl KeyReader<'_> {
    fn keep_uid(&self, secret: &Secret) {
        if let Some(uid) = &secret.metadata.uid {
            self.secret_uids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(uid.clone());
        }
    }

    /// The key's value; `None` when it is missing and optional; a [`UserError`] naming
    /// `field` when it is missing and required.
    async fn read(
        &self,
        key: &KeyRef<'_>,
        field: &str,
    ) -> Result<Result<Option<Vec<u8>>, UserError>, kube::Error> {
        let value = match key {
            KeyRef::Secret(sel) => self.secrets.get_opt(&sel.name).await?.and_then(|s| {
                self.keep_uid(&s);
                s.data.and_then(|d| d.get(&sel.key).map(|v| v.0.clone()))
            }),
            KeyRef::ConfigMap(sel) => self.config_maps.get_opt(&sel.name).await?.and_then(|cm| {
                cm.data
                    .and_then(|d| d.get(&sel.key).map(|v| v.clone().into_bytes()))
                    .or_else(|| {
                        cm.binary_data
                            .and_then(|d| d.get(&sel.key).map(|v| v.0.clone()))
                    })
            }),
        };
        let (kind, name, key_name) = key.parts();
        let (reason, selector) = match key {
            KeyRef::Secret(_) => ("SecretNotFound", "secretKeyRef"),
            KeyRef::ConfigMap(_) => ("ConfigMapNotFound", "configMapKeyRef"),
        };
        Ok(match value {
            Some(value) => Ok(Some(value)),
            None if key.optional() => Ok(None),
            None => Err(UserError {
                reason,
                message: format!(
                    "{field}.{selector}: {kind} {name:?} with key {key_name:?} not found in namespace {}",
                    self.ns
                ),
                retry: Some(WAIT_FOR_REFERENCE),
            }),
        })
    }
}

/// Finds the executor and reads every Secret and ConfigMap key the app refers to.
async fn dereference(
    app: &SpinApp,
    ns: &str,
    client: &Client,
) -> Result<Result<(SpinAppExecutor, ReferencedConfig), UserError>, kube::Error> {
    let executors: Api<SpinAppExecutor> = Api::namespaced(client.clone(), ns);
    let missing = |reason, message: String| {
        Ok(Err(UserError {
            reason,
            message,
            retry: Some(WAIT_FOR_REFERENCE),
        }))
    };
    let executor = match &app.spec.executor {
        Some(name) => match executors.get_opt(name).await? {
            Some(e) => e,
            None => {
                return missing(
                    "ExecutorNotFound",
                    format!(
                        "spec.executor: no SpinAppExecutor named {name:?} in namespace {ns}; create it \
                         (the Helm chart installs `containerd-shim-spin`) or name another"
                    ),
                );
            }
        },
        None => {
            let all = executors.list(&Default::default()).await?.items;
            match all.as_slice() {
                [only] => only.clone(),
                [] => {
                    return missing(
                        "ExecutorNotFound",
                        format!(
                            "spec.executor: not set, and namespace {ns} has no SpinAppExecutor; create one"
                        ),
                    );
                }
                several => {
                    let marked: Vec<_> = several.iter().filter(|e| is_marked_default(e)).collect();
                    match marked.as_slice() {
                        [default] => (*default).clone(),
                        _ => {
                            let candidates: Vec<_> = if marked.is_empty() {
                                several.iter().map(|e| e.name_any()).collect()
                            } else {
                                marked.iter().map(|e| e.name_any()).collect()
                            };
                            return Ok(Err(UserError {
                                reason: "ExecutorAmbiguous",
                                message: format!(
                                    "spec.executor: not set, and namespace {ns} has several {}executors ({}); name one, or annotate exactly one with {DEFAULT_EXECUTOR_ANNOTATION}: \"true\"",
                                    if marked.is_empty() { "" } else { "default " },
                                    candidates.join(", ")
                                ),
                                retry: None,
                            }));
                        }
                    }
                }
            }
        }
    };

    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let refs = KeyReader {
        secrets: &secrets,
        config_maps: &config_maps,
        ns,
        secret_uids: Default::default(),
    };
    let mut config = ReferencedConfig::default();
    for (i, var) in app.spec.variables.iter().enumerate() {
        let Some(from) = &var.value_from else {
            continue;
        };
        let field = format!("spec.variables[{i}].valueFrom");
        for key in KeyRef::of(
            from.secret_key_ref.as_ref(),
            from.config_map_key_ref.as_ref(),
        ) {
            match refs.read(&key, &field).await? {
                Ok(Some(value)) => config.entries.push((key.source(), value)),
                Ok(None) => {}
                Err(problem) => return Ok(Err(problem)),
            }
        }
    }
    // Inline runtime config options from Secrets and ConfigMaps (validated: one each).
    if runtime_config::is_inline(app) {
        for (table, _, entries) in runtime_config::inline_tables(app) {
            for (i, entry) in entries.iter().enumerate() {
                for (j, option) in entry.options.iter().enumerate() {
                    let Some(from) = &option.value_from else {
                        continue;
                    };
                    let path = format!("spec.runtimeConfig.{table}[{i}].options[{j}]");
                    let field = format!("{path}.valueFrom");
                    let keys = KeyRef::of(
                        from.secret_key_ref.as_ref(),
                        from.config_map_key_ref.as_ref(),
                    );
                    for key in keys {
                        let value = match refs.read(&key, &field).await? {
                            Ok(value) => value.unwrap_or_default(),
                            Err(problem) => return Ok(Err(problem)),
                        };
                        match String::from_utf8(value) {
                            Ok(text) => config.options.insert(path.clone(), text),
                            Err(_) => {
                                return Ok(Err(UserError {
                                    reason: "InvalidReference",
                                    message: format!(
                                        "{field}: {} is not UTF-8 text; a runtime config option must be text",
                                        key.source()
                                    ),
                                    retry: None,
                                }));
                            }
                        };
                    }
                }
            }
        }
    }
    if let Some(name) = &app.spec.runtime_config.load_from_secret {
        let value = secrets.get_opt(name).await?.and_then(|s| {
            refs.keep_uid(&s);
            s.data
                .and_then(|d| d.get("runtime-config.toml").map(|v| v.0.clone()))
        });
        match value {
            Some(v) => config
                .entries
                .push((format!("Secret/{name}/runtime-config.toml"), v)),
            None => {
                return missing(
                    "SecretNotFound",
                    format!(
                        "spec.runtimeConfig.loadFromSecret: Secret {name:?} with key \"runtime-config.toml\" not found in namespace {ns}"
                    ),
                );
            }
        }
    }
    config.secret_uids = refs
        .secret_uids
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Ok(Ok((executor, config)))
}
