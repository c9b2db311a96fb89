//! Strict client-side validation of a SpinApp or SpinAppExecutor against the CRD's
//! OpenAPI schema: types, required fields, enums, and unknown fields (which the API
//! server would silently drop, and `kubectl apply --validate=strict` refuses). CEL
//! rules are left to the API server.

use kube::CustomResourceExt;
use serde_json::Value;

use crate::{SpinApp, SpinAppExecutor};

/// Every problem in `object`, each as `path: problem`; empty when it is valid.
pub fn check(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let crd = match kind {
        "SpinApp" => SpinApp::crd(),
        "SpinAppExecutor" => SpinAppExecutor::crd(),
        other => return vec![format!("kind: {other:?} is not a SpinKube kind")],
    };
    let Some(version) = crd
        .spec
        .versions
        .iter()
        .find(|v| format!("{}/{}", crd.spec.group, v.name) == api_version)
    else {
        return vec![format!(
            "apiVersion: {api_version:?} is not served for {kind}; use {}/{}",
            crd.spec.group, crd.spec.versions[0].name
        )];
    };
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .map(|s| serde_json::to_value(s).expect("schemas serialize"))
        .unwrap_or_default();
    let mut problems = Vec::new();
    if object["metadata"]["name"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        problems.push("metadata.name: required".to_string());
    }
    let Some(fields) = object.as_object() else {
        return vec!["the document is not a mapping".into()];
    };
    for (key, value) in fields {
        match key.as_str() {
            "apiVersion" | "kind" | "metadata" => {}
            _ => match schema["properties"].get(key) {
                Some(field_schema) => walk(value, field_schema, key, &mut problems),
                None => problems.push(format!("{key}: unknown field")),
            },
        }
    }
    problems
}

fn walk(value: &Value, schema: &Value, path: &str, problems: &mut Vec<String>) {
    if value.is_null() && schema["nullable"] == true {
        return;
    }
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            problems.push(format!("{path}: must be an integer or a string"));
        }
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        problems.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    let ty = schema["type"].as_str().unwrap_or_default();
    let type_ok = match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        problems.push(format!("{path}: must be of type {ty}, not {value}"));
        return;
    }
    match value {
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                if let Some(name) = required.as_str()
                    && !fields.contains_key(name)
                {
                    problems.push(format!("{path}.{name}: required"));
                }
            }
            if schema["x-kubernetes-preserve-unknown-fields"] == true
                && schema.get("properties").is_none()
            {
                return;
            }
            for (key, field) in fields {
                let child = format!("{path}.{key}");
                if let Some(field_schema) = schema["properties"].get(key) {
                    walk(field, field_schema, &child, problems);
                } else if schema["additionalProperties"].is_object() {
                    walk(field, &schema["additionalProperties"], &child, problems);
                } else if schema["additionalProperties"] != true {
                    problems.push(format!("{child}: unknown field"));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &schema["items"], &format!("{path}[{i}]"), problems);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn app(spec: Value) -> Value {
        json!({"apiVersion": "core.spinkube.dev/v1alpha1", "kind": "SpinApp",
               "metadata": {"name": "hello"}, "spec": spec})
    }

    #[test]
    fn the_examples_are_valid() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/kubernetes");
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let value = Value::deserialize(doc).unwrap();
                if value["apiVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(crate::GROUP)
                {
                    assert_eq!(check(&value), Vec::<String>::new(), "{}", path.display());
                }
            }
        }
    }

    #[test]
    fn reports_unknown_fields_wrong_types_and_missing_required_fields() {
        let problems = check(&app(json!({
            "image": "x:v1",
            "replica": 2,
            "replicas": "two",
            "resources": {"limits": {"cpu": "100m", "memory": 134217728}},
            "variables": [{"value": "no name"}],
        })));
        assert_eq!(
            problems,
            [
                "spec.replica: unknown field",
                "spec.replicas: must be of type integer, not \"two\"",
                "spec.variables[0].name: required",
            ]
        );
        assert_eq!(
            check(&app(json!({"replicas": 1}))),
            ["spec.image: required"]
        );
    }

    #[test]
    fn reports_wrong_api_versions_and_kinds() {
        let mut v = app(json!({"image": "x"}));
        v["apiVersion"] = json!("core.spinoperator.dev/v1alpha1");
        assert!(check(&v)[0].contains("use core.spinkube.dev/v1alpha1"));
        v["kind"] = json!("Deployment");
        assert!(check(&v)[0].contains("not a SpinKube kind"));
    }
}
