//! Inline runtime config (`spec.runtimeConfig.keyValueStores` / `sqliteDatabases`)
//! rendered into Spin's `runtime-config.toml`, in a Secret the app's pods mount where a
//! `loadFromSecret` Secret would go.
//!
//! As SpinKube renders it: each entry becomes `[key_value_store.NAME]` /
//! `[sqlite_database.NAME]` with its `type` and one string key per option. Values from
//! `valueFrom` are resolved by the dereference step and passed in by field path. The
//! Secret's name is fixed per app (`<app>-inline-runtime-config`, apart from the
//! `<app>-runtime-config` Secret `spin kube deploy` writes for `loadFromSecret`); a
//! change of its content changes the pods' config hash, so they roll.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use spin_crds::SpinApp;
use spin_crds::spinapp::RuntimeConfigEntry;

use crate::labels;

/// The key the runtime config file is kept under, as in a `loadFromSecret` Secret.
pub const KEY: &str = "runtime-config.toml";

/// Values of `valueFrom` options, by the option's field path
/// (`spec.runtimeConfig.keyValueStores[0].options[1]`).
pub type ResolvedOptions = BTreeMap<String, String>;

/// The name of the Secret holding an app's rendered runtime config.
pub fn secret_name(app: &SpinApp) -> String {
    format!(
        "{}-inline-runtime-config",
        app.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The inline tables of an app, with the CRD field each comes from: `(field, Spin
/// table, entries)`.
pub fn inline_tables(app: &SpinApp) -> [(&'static str, &'static str, &[RuntimeConfigEntry]); 2] {
    let inline = &app.spec.runtime_config;
    [
        (
            "keyValueStores",
            "key_value_store",
            &inline.key_value_stores,
        ),
        (
            "sqliteDatabases",
            "sqlite_database",
            &inline.sqlite_databases,
        ),
    ]
}

/// Whether the app's runtime config is rendered by the operator (inline, and no
/// `loadFromSecret`, which wins).
pub fn is_inline(app: &SpinApp) -> bool {
    let inline = &app.spec.runtime_config;
    inline.load_from_secret.is_none()
        && (!inline.key_value_stores.is_empty() || !inline.sqlite_databases.is_empty())
}

/// One entry as a TOML table: its `type` and its options (a `valueFrom` option takes
/// `resolve(field path, option name)`).
pub fn entry_table(
    entry: &RuntimeConfigEntry,
    field: &str,
    resolve: impl Fn(&str, &str) -> String,
) -> toml::Table {
    let mut table = toml::Table::new();
    table.insert("type".into(), entry.type_.clone().into());
    for (j, option) in entry.options.iter().enumerate() {
        let value = match &option.value {
            Some(value) => value.clone(),
            None => resolve(&format!("{field}.options[{j}]"), &option.name),
        };
        table.insert(option.name.clone(), value.into());
    }
    table
}

/// The app's `runtime-config.toml`, or `None` when it has no inline runtime config.
pub fn render(app: &SpinApp, resolved: &ResolvedOptions) -> Option<String> {
    if !is_inline(app) {
        return None;
    }
    let mut root = toml::Table::new();
    for (field, table, entries) in inline_tables(app) {
        let mut tables = toml::Table::new();
        for (i, entry) in entries.iter().enumerate() {
            let path = format!("spec.runtimeConfig.{field}[{i}]");
            let resolve = |option: &str, _: &str| resolved.get(option).cloned().unwrap_or_default();
            tables.insert(
                entry.name.clone(),
                entry_table(entry, &path, resolve).into(),
            );
        }
        if !tables.is_empty() {
            root.insert(table.into(), tables.into());
        }
    }
    Some(toml::to_string(&root).unwrap_or_default())
}

/// The Secret holding `rendered`, owned by the app.
pub fn secret(app: &SpinApp, rendered: &str, owner: &OwnerReference) -> Secret {
    let name = app.metadata.name.clone().unwrap_or_default();
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(app)),
            namespace: app.metadata.namespace.clone(),
            labels: Some(labels::selector(&name)),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            KEY.to_string(),
            ByteString(rendered.as_bytes().to_vec()),
        )])),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(runtime_config: &str) -> SpinApp {
        serde_yaml::from_str(&format!(
            "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {{name: notes, namespace: n}}\nspec:\n  image: x\n  runtimeConfig:\n{runtime_config}"
        ))
        .unwrap()
    }

    #[test]
    fn inline_tables_render_as_spin_reads_them() {
        let app = app(
            "    keyValueStores:\n    - name: cache\n      type: spin\n    - name: default\n      type: spin\n      options:\n      - {name: path, value: data/kv.db}\n    sqliteDatabases:\n    - name: default\n      type: spin\n      options:\n      - name: path\n        valueFrom: {secretKeyRef: {name: db, key: file}}\n",
        );
        let resolved = ResolvedOptions::from([(
            "spec.runtimeConfig.sqliteDatabases[0].options[0]".to_string(),
            "app.db".to_string(),
        )]);
        let rendered = render(&app, &resolved).unwrap();
        assert_eq!(
            rendered,
            "[key_value_store.cache]\ntype = \"spin\"\n\n[key_value_store.default]\npath = \"data/kv.db\"\ntype = \"spin\"\n\n[sqlite_database.default]\npath = \"app.db\"\ntype = \"spin\"\n"
        );
        let parsed = spin_app::runtime_config::RuntimeConfigFile::parse(
            &rendered,
            std::path::Path::new("rendered"),
        )
        .unwrap();
        assert_eq!(parsed.key_value_stores.len(), 2);
        assert_eq!(parsed.sqlite_databases.len(), 1);
    }

    #[test]
    fn load_from_secret_wins_and_no_inline_config_renders_nothing() {
        let from_secret =
            app("    loadFromSecret: rc\n    keyValueStores:\n    - {name: cache, type: spin}\n");
        assert_eq!(render(&from_secret, &ResolvedOptions::new()), None);
        let none = app("    {}\n");
        assert_eq!(render(&none, &ResolvedOptions::new()), None);
    }
}
