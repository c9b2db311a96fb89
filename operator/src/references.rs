//! The Secrets and ConfigMaps a SpinApp's pods depend on: variable values
//! (`valueFrom.secretKeyRef` / `configMapKeyRef`), the runtime config Secret and the
//! references of inline runtime config options. A
//! change to one of them changes the pods' config hash, so the controller watches them.

use spin_crds::SpinApp;

/// A Secret or ConfigMap, by name, in the app's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Secret(String),
    ConfigMap(String),
}

/// Everything `app` refers to, in spec order.
pub fn references(app: &SpinApp) -> Vec<Reference> {
    let mut found = Vec::new();
    for from in app
        .spec
        .variables
        .iter()
        .filter_map(|v| v.value_from.as_ref())
    {
        if let Some(sel) = &from.secret_key_ref {
            found.push(Reference::Secret(sel.name.clone()));
        }
        if let Some(sel) = &from.config_map_key_ref {
            found.push(Reference::ConfigMap(sel.name.clone()));
        }
    }
    if let Some(name) = &app.spec.runtime_config.load_from_secret {
        found.push(Reference::Secret(name.clone()));
    }
    if crate::desired::runtime_config::is_inline(app) {
        for (_, _, entries) in crate::desired::runtime_config::inline_tables(app) {
            for from in entries
                .iter()
                .flat_map(|e| &e.options)
                .filter_map(|o| o.value_from.as_ref())
            {
                if let Some(sel) = &from.secret_key_ref {
                    found.push(Reference::Secret(sel.name.clone()));
                }
                if let Some(sel) = &from.config_map_key_ref {
                    found.push(Reference::ConfigMap(sel.name.clone()));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_the_runtime_config_secret() {
        let app: SpinApp = serde_yaml::from_str(
            "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {name: a, namespace: n}\nspec:\n  image: x\n  variables:\n  - {name: plain, value: v}\n  - {name: key, valueFrom: {secretKeyRef: {name: creds, key: k}}}\n  - {name: region, valueFrom: {configMapKeyRef: {name: settings, key: r}}}\n  runtimeConfig: {loadFromSecret: rc}\n",
        )
        .unwrap();
        assert_eq!(
            references(&app),
            [
                Reference::Secret("creds".into()),
                Reference::ConfigMap("settings".into()),
                Reference::Secret("rc".into()),
            ]
        );
    }

    #[test]
    fn inline_runtime_config_options() {
        let app: SpinApp = serde_yaml::from_str(
            "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {name: a, namespace: n}\nspec:\n  image: x\n  runtimeConfig:\n    sqliteDatabases:\n    - name: default\n      type: spin\n      options:\n      - {name: path, valueFrom: {configMapKeyRef: {name: db, key: path}}}\n",
        )
        .unwrap();
        assert_eq!(references(&app), [Reference::ConfigMap("db".into())]);
    }
}
