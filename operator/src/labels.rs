//! Labels and annotations the operator puts on what it creates.

use std::collections::BTreeMap;

/// Selects the pods of one app; also on its Deployment and Service.
pub const APP_NAME: &str = "core.spinkube.dev/app-name";
/// Set on everything the operator manages.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Field manager and `managed-by` value.
pub const MANAGER: &str = "spin-operator";
/// Hash of the Secrets and ConfigMaps an app refers to; a change rolls the pods.
pub const CONFIG_HASH: &str = "core.spinkube.dev/config-hash";

/// The selector labels of an app's pods.
pub fn selector(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(APP_NAME.to_string(), app.to_string())])
}

/// Labels of the Deployment and Service of an app.
pub fn owned(app: &str) -> BTreeMap<String, String> {
    let mut labels = selector(app);
    labels.insert("app.kubernetes.io/name".into(), app.into());
    labels.insert(MANAGED_BY.into(), MANAGER.into());
    labels
}
