//! Version 1 manifests (`spin_manifest_version = "1"`, or the older `spin_version = "1"`),
//! converted on load into a version 2 document the way Spin converts them, which the
//! one strict version 2 parser then reads:
//! - `name`, `version`, `description`, `authors` move to `[application]`;
//! - `trigger = { type = "T", ... }` becomes `[application.trigger.T]` (e.g. `base`);
//! - each `[[component]]` becomes `[component.<id>]` and one `[[trigger.T]]` entry with
//!   id `trigger-<id>` holding the component's `[component.trigger]` keys (`route`,
//!   `executor`, `channel`, ...);
//! - component ids in snake_case or mixedCase become kebab-case (`my_app` → `my-app`,
//!   `myApp` → `myapp`);
//! - `config` becomes `variables`;
//! - `allowed_http_hosts` joins `allowed_outbound_hosts` (see [`crate::allowed_http_hosts`]),
//!   and a component without `allowed_outbound_hosts` may reach any Redis, MySQL and
//!   PostgreSQL server, as Spin 1 allowed.
//!
//! Unknown keys are refused by name, as in version 2. Errors after the conversion name
//! the version 2 field (`component.my-app.source`).

use serde::Deserialize;
use toml::{Table, Value};

use crate::allowed_http_hosts::{V1_DATABASE_ACCESS, to_outbound_hosts};
use crate::ids::is_kebab_id;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestV1 {
    #[serde(alias = "spin_version")]
    #[allow(dead_code, reason = "checked by the caller before deserializing")]
    spin_manifest_version: Value,
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Option<Vec<String>>,
    trigger: AppTriggerV1,
    #[serde(default)]
    variables: Option<Table>,
    #[serde(default, rename = "component")]
    components: Vec<ComponentV1>,
}

#[derive(Deserialize)]
struct AppTriggerV1 {
    #[serde(rename = "type")]
    trigger_type: String,
    #[serde(flatten)]
    settings: Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentV1 {
    id: String,
    source: Value,
    trigger: Table,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    config: Option<Table>,
    #[serde(default)]
    environment: Option<Table>,
    #[serde(default)]
    files: Option<Value>,
    #[serde(default)]
    exclude_files: Option<Value>,
    #[serde(default)]
    allowed_http_hosts: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Option<Vec<String>>,
    #[serde(default)]
    key_value_stores: Option<Value>,
    #[serde(default)]
    sqlite_databases: Option<Value>,
    #[serde(default)]
    ai_models: Option<Value>,
    #[serde(default)]
    build: Option<Table>,
}

/// Whether a parsed manifest declares version 1.
pub fn is_v1(document: &Table) -> bool {
    let version = document
        .get("spin_manifest_version")
        .or_else(|| document.get("spin_version"));
    matches!(version, Some(Value::String(v)) if v == "1")
        || matches!(version, Some(Value::Integer(1)))
}

/// Why a version 1 manifest cannot be converted: the field and the problem.
#[derive(Debug)]
pub struct ConvertError {
    pub field: String,
    pub problem: String,
}

/// Converts a version 1 document into the equivalent version 2 document.
pub fn to_v2(document: Table) -> Result<Table, ConvertError> {
    let v1 = ManifestV1::deserialize(Value::Table(document)).map_err(|e| ConvertError {
        field: "(version 1 manifest)".into(),
        problem: e.message().to_string(),
    })?;
    let trigger_type = v1.trigger.trigger_type;

    let mut application = Table::new();
    application.insert("name".into(), v1.name.into());
    insert_some(&mut application, "version", v1.version.map(Value::from));
    insert_some(
        &mut application,
        "description",
        v1.description.map(Value::from),
    );
    insert_some(&mut application, "authors", v1.authors.map(Value::from));
    let mut app_triggers = Table::new();
    app_triggers.insert(trigger_type.clone(), Value::Table(v1.trigger.settings));
    application.insert("trigger".into(), Value::Table(app_triggers));

    let mut triggers = Vec::new();
    let mut components = Table::new();
    for (index, c) in v1.components.into_iter().enumerate() {
        let id = kebab_component_id(&c.id).ok_or_else(|| ConvertError {
            field: format!("component[{index}].id"),
            problem: format!(
                "{:?} is not a component id; use letters, digits and `-`, starting with a letter",
                c.id
            ),
        })?;
        let mut hosts =
            to_outbound_hosts(&c.allowed_http_hosts).map_err(|problem| ConvertError {
                field: format!("component[{index}].allowed_http_hosts"),
                problem,
            })?;
        let mut allowed = match c.allowed_outbound_hosts {
            Some(declared) => declared,
            None => V1_DATABASE_ACCESS.iter().map(|h| h.to_string()).collect(),
        };
        allowed.append(&mut hosts);

        let mut component = Table::new();
        component.insert("source".into(), c.source);
        insert_some(
            &mut component,
            "description",
            c.description.map(Value::from),
        );
        insert_some(&mut component, "variables", c.config.map(Value::Table));
        insert_some(
            &mut component,
            "environment",
            c.environment.map(Value::Table),
        );
        insert_some(&mut component, "files", c.files);
        insert_some(&mut component, "exclude_files", c.exclude_files);
        component.insert("allowed_outbound_hosts".into(), allowed.into());
        insert_some(&mut component, "key_value_stores", c.key_value_stores);
        insert_some(&mut component, "sqlite_databases", c.sqlite_databases);
        insert_some(&mut component, "ai_models", c.ai_models);
        insert_some(&mut component, "build", c.build.map(Value::Table));
        if components.contains_key(&id) {
            return Err(ConvertError {
                field: format!("component[{index}].id"),
                problem: format!(
                    "{:?} names the same component as an earlier one ({id})",
                    c.id
                ),
            });
        }
        components.insert(id.clone(), Value::Table(component));

        let mut trigger = c.trigger;
        trigger.insert("id".into(), format!("trigger-{id}").into());
        trigger.insert("component".into(), id.into());
        triggers.push(Value::Table(trigger));
    }

    let mut v2 = Table::new();
    v2.insert("spin_manifest_version".into(), 2.into());
    v2.insert("application".into(), Value::Table(application));
    insert_some(&mut v2, "variables", v1.variables.map(Value::Table));
    if !triggers.is_empty() {
        let mut by_type = Table::new();
        by_type.insert(trigger_type, Value::Array(triggers));
        v2.insert("trigger".into(), Value::Table(by_type));
    }
    if !components.is_empty() {
        v2.insert("component".into(), Value::Table(components));
    }
    Ok(v2)
}

fn insert_some(table: &mut Table, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        table.insert(key.into(), value);
    }
}

/// Spin's repair of version 1 ids: `_` becomes `-` and letters are lowered.
fn kebab_component_id(id: &str) -> Option<String> {
    let id = if is_kebab_id(id) {
        id.to_string()
    } else {
        id.replace('_', "-").to_lowercase()
    };
    is_kebab_id(&id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(text: &str) -> Result<Table, ConvertError> {
        to_v2(toml::from_str(text).unwrap())
    }

    #[test]
    fn versions_one_are_recognised() {
        for text in [
            "spin_manifest_version = \"1\"",
            "spin_version = \"1\"",
            "spin_manifest_version = 1",
        ] {
            assert!(is_v1(&toml::from_str(text).unwrap()), "{text}");
        }
        for text in [
            "spin_manifest_version = 2",
            "spin_manifest_version = \"2\"",
            "",
        ] {
            assert!(!is_v1(&toml::from_str(text).unwrap()), "{text}");
        }
    }

    #[test]
    fn ids_are_repaired_as_spin_repairs_them() {
        assert_eq!(
            kebab_component_id("snake_case").as_deref(),
            Some("snake-case")
        );
        assert_eq!(
            kebab_component_id("mixedCase").as_deref(),
            Some("mixedcase")
        );
        assert_eq!(kebab_component_id("ok-id").as_deref(), Some("ok-id"));
        assert_eq!(kebab_component_id("1bad"), None);
        assert_eq!(kebab_component_id("a b"), None);
    }

    #[test]
    fn unknown_keys_and_bad_ids_are_named() {
        let err = convert(
            "spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n\
             [[component]]\nid = \"a\"\nsource = \"a.wasm\"\ntrigger = {}\nroutes = 1\n",
        )
        .unwrap_err();
        assert!(err.problem.contains("unknown field `routes`"), "{err:?}");

        let err = convert(
            "spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n\
             [[component]]\nid = \"a.b\"\nsource = \"a.wasm\"\ntrigger = {}\n",
        )
        .unwrap_err();
        assert_eq!(err.field, "component[0].id");

        let err = convert(
            "spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n\
             [[component]]\nid = \"my_app\"\nsource = \"a.wasm\"\ntrigger = {}\n\
             [[component]]\nid = \"my-app\"\nsource = \"b.wasm\"\ntrigger = {}\n",
        )
        .unwrap_err();
        assert_eq!(err.field, "component[1].id");
    }
}
