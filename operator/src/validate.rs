//! Checks a SpinApp and its executor before anything is built. Each error names the
//! field to fix, so it can go straight into a condition and an Event.

use std::collections::BTreeSet;

use spin_app::ids::{is_kebab_id, is_lower_snake_id};
use spin_app::runtime_config::RuntimeConfigFile;
use spin_app::settings::{self, InvocationLimit};
use spin_crds::{SpinApp, SpinAppExecutor};

use crate::desired::runtime_config;

/// A problem with one field of a SpinApp or SpinAppExecutor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    /// Path of the field, e.g. `spec.variables[2].name`.
    pub field: String,
    pub problem: String,
}

fn err(field: impl Into<String>, problem: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// `spec.runtimeConfig` without `loadFromSecret` (which wins, as in SpinKube): each
/// entry a labelled table whose options are set once, by `value` or by one `valueFrom`
/// reference, and which this runtime reads as Spin does (checked by rendering it, with
/// placeholders for references, through the runtime's own parser and pod placement).
fn inline_runtime_config(app: &SpinApp) -> Vec<ValidationError> {
    let inline = &app.spec.runtime_config;
    let mut errors = Vec::new();
    if inline.load_from_secret.is_some() {
        return errors;
    }
    if inline.llm_compute.is_some() {
        errors.push(err(
            "spec.runtimeConfig.llmCompute",
            "is not supported by this runtime yet; remove it",
        ));
    }
    for (field, table, entries) in runtime_config::inline_tables(app) {
        let mut names = BTreeSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("spec.runtimeConfig.{field}[{i}]");
            if !is_kebab_id(&entry.name) && !is_lower_snake_id(&entry.name) {
                errors.push(err(
                    format!("{at}.name"),
                    format!(
                        "{:?} is not a label (like `default` or `my-store`)",
                        entry.name
                    ),
                ));
                continue;
            }
            if !names.insert(entry.name.as_str()) {
                errors.push(err(
                    format!("{at}.name"),
                    format!("{:?} is defined twice", entry.name),
                ));
                continue;
            }
            let before = errors.len();
            let mut options = BTreeSet::new();
            for (j, option) in entry.options.iter().enumerate() {
                let at = format!("{at}.options[{j}]");
                if option.name.is_empty() || option.name == "type" {
                    errors.push(err(
                        format!("{at}.name"),
                        "must name an option of the type (the type is set by `type`)",
                    ));
                } else if !options.insert(option.name.as_str()) {
                    errors.push(err(
                        format!("{at}.name"),
                        format!("{:?} is set twice", option.name),
                    ));
                }
                let references = option.value_from.as_ref().map_or(0, |from| {
                    usize::from(from.secret_key_ref.is_some())
                        + usize::from(from.config_map_key_ref.is_some())
                });
                match (&option.value, references) {
                    (Some(_), 0) | (None, 1) => {}
                    _ => errors.push(err(
                        at,
                        "set either `value` or `valueFrom` with one of secretKeyRef and configMapKeyRef",
                    )),
                }
            }
            if errors.len() > before {
                continue;
            }
            // References are resolved at reconcile time; a placeholder of the option's
            // form stands in.
            let table_text =
                toml::Table::from_iter([(
                    table.to_string(),
                    toml::Value::Table(toml::Table::from_iter([(
                        entry.name.clone(),
                        toml::Value::Table(runtime_config::entry_table(entry, &at, |_, name| {
                            match name {
                                "url" => "redis://from-reference".into(),
                                _ => "from-reference".into(),
                            }
                        })),
                    )])),
                )]);
            let text = toml::to_string(&table_text).unwrap_or_default();
            let file = std::path::Path::new("runtime-config.toml");
            let checked = RuntimeConfigFile::parse(&text, file)
                .and_then(|parsed| parsed.place_in_pod(file, std::path::Path::new("/state")));
            if let Err(e) = checked {
                errors.push(err(at, e.problem));
            }
        }
    }
    errors
}

/// `spec.invocationLimits`: SpinKube's common `memory` (at most the container's memory
/// limit) and this executor's `spin-kube.dev/...` keys, each with a value of its kind.
/// Keys namespaced by another executor are that executor's business.
fn invocation_limits(app: &SpinApp) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (key, value) in &app.spec.invocation_limits {
        let field = format!("spec.invocationLimits.{key}");
        let setting = match settings::invocation_limit(key) {
            InvocationLimit::Known(setting) => setting,
            InvocationLimit::OtherExecutor => continue,
            InvocationLimit::Unknown => {
                let known: Vec<_> = settings::ALL.iter().map(|s| s.invocation_limit).collect();
                errors.push(err(
                    field,
                    format!("is not an invocation limit of this executor; use one of {known:?}"),
                ));
                continue;
            }
        };
        match setting.kind.parse(value) {
            Err(problem) => errors.push(err(field, format!("{value:?}: {problem}"))),
            Ok(bytes) if setting == settings::MAX_INSTANCE_MEMORY => {
                let container = app
                    .spec
                    .resources
                    .limits
                    .get("memory")
                    .and_then(|q| settings::parse_size(&q.0).ok());
                if let Some(limit) = container.filter(|&limit| bytes > limit) {
                    errors.push(err(
                        field,
                        format!(
                            "{value} is more than spec.resources.limits.memory ({limit} bytes); one request cannot use more than its pod"
                        ),
                    ));
                }
            }
            Ok(_) => {}
        }
    }
    errors
}

/// All problems of the app and its executor; empty when it can be built.
pub fn validate(app: &SpinApp, executor: &SpinAppExecutor) -> Vec<ValidationError> {
    let spec = &app.spec;
    let mut errors = Vec::new();
    if spec.image.trim().is_empty() {
        errors.push(err(
            "spec.image",
            "must name an OCI image, like ghcr.io/org/app:v1",
        ));
    }
    match spec.replicas {
        Some(n) if n < 0 => errors.push(err("spec.replicas", "must not be negative")),
        Some(_) if spec.enable_autoscaling => errors.push(err(
            "spec.replicas",
            "cannot be set together with spec.enableAutoscaling: true; remove one of them",
        )),
        _ => {}
    }
    let mut seen = BTreeSet::new();
    for (i, var) in spec.variables.iter().enumerate() {
        let field = format!("spec.variables[{i}]");
        if !is_lower_snake_id(&var.name) {
            errors.push(err(
                format!("{field}.name"),
                format!(
                    "{:?} is not a Spin variable name (lower_snake_case, like api_key)",
                    var.name
                ),
            ));
        }
        if !seen.insert(var.name.as_str()) {
            errors.push(err(
                format!("{field}.name"),
                format!("{:?} is set more than once", var.name),
            ));
        }
        if var.value.is_some() == var.value_from.is_some() {
            errors.push(err(field, "set exactly one of value and valueFrom"));
        }
    }
    for (i, c) in spec.components.iter().enumerate() {
        if !is_kebab_id(c) {
            errors.push(err(
                format!("spec.components[{i}]"),
                format!("{c:?} is not a component id (kebab-case, like my-component)"),
            ));
        }
    }
    for (name, probe) in [
        ("readiness", &spec.checks.readiness),
        ("liveness", &spec.checks.liveness),
    ] {
        if let Some(get) = probe.as_ref().and_then(|p| p.http_get.as_ref())
            && !get.path.starts_with('/')
        {
            errors.push(err(
                format!("spec.checks.{name}.httpGet.path"),
                "must start with /",
            ));
        }
    }
    errors.extend(invocation_limits(app));
    errors.extend(inline_runtime_config(app));
    let executor_name = executor.metadata.name.as_deref().unwrap_or_default();
    if executor.spec.create_deployment {
        match &executor.spec.deployment_config {
            None => errors.push(err(
                format!("SpinAppExecutor {executor_name}: spec.deploymentConfig"),
                "is required when createDeployment is true; set runtimeClassName (e.g. wasmtime-spin-v2)",
            )),
            Some(dc) if dc.runtime_class_name.is_some() == dc.spin_image.is_some() => errors.push(err(
                format!("SpinAppExecutor {executor_name}: spec.deploymentConfig"),
                "set exactly one of runtimeClassName and spinImage",
            )),
            Some(_) => {}
        }
    }
    errors
}
