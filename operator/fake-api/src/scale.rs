//! The `scale` subresource (`autoscaling/v1` Scale) of Deployments and SpinApps, as
//! `kubectl scale` and autoscalers use it: `spec.replicas` is read and written through
//! it, `status.replicas` and the label selector read.

use serde_json::{Value, json};

/// The Scale of `object`.
pub fn of(object: &Value) -> Value {
    let selector = object["status"]["selector"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            let labels = object["spec"]["selector"]["matchLabels"].as_object()?;
            Some(
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })
        .unwrap_or_default();
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "resourceVersion": object["metadata"]["resourceVersion"],
        },
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// The object with the replicas a Scale (PUT) or a merge patch of one asks for, or
/// `None` when the body names none.
pub fn scaled(object: &Value, body: &Value) -> Option<Value> {
    let replicas = body["spec"]["replicas"].as_i64()?;
    let mut after = object.clone();
    after["spec"]["replicas"] = replicas.into();
    Some(after)
}
