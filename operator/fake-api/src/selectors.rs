//! List filtering as the API server does it: `labelSelector` (`k=v`, `k==v`, `k!=v`,
//! `k`, `!k`, comma-joined) on `metadata.labels`, and `fieldSelector` (`a.b=v`, `a.b!=v`)
//! on dotted JSON paths of the object.

use serde_json::Value;

/// The value of query parameter `key` in `query` (percent-decoded).
pub fn query_param(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Whether `object`'s labels satisfy every requirement of `selector`.
pub fn labels_match(selector: &str, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    requirements(selector).all(|req| match req {
        Requirement::Equals(key, value) => labels[key].as_str() == Some(value),
        Requirement::NotEquals(key, value) => labels[key].as_str() != Some(value),
        Requirement::Exists(key) => labels.get(key).is_some(),
        Requirement::Absent(key) => labels.get(key).is_none(),
    })
}

/// Whether `object`'s fields satisfy every requirement of `selector`.
pub fn fields_match(selector: &str, object: &Value) -> bool {
    let field = |path: &str| -> String {
        let value = path.split('.').fold(object, |v, segment| &v[segment]);
        match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    };
    requirements(selector).all(|req| match req {
        Requirement::Equals(path, value) => field(path) == value,
        Requirement::NotEquals(path, value) => field(path) != value,
        Requirement::Exists(_) | Requirement::Absent(_) => false,
    })
}

enum Requirement<'a> {
    Equals(&'a str, &'a str),
    NotEquals(&'a str, &'a str),
    Exists(&'a str),
    Absent(&'a str),
}

fn requirements(selector: &str) -> impl Iterator<Item = Requirement<'_>> {
    selector
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            if let Some((key, value)) = r.split_once("!=") {
                Requirement::NotEquals(key.trim(), value.trim())
            } else if let Some((key, value)) = r.split_once("==").or_else(|| r.split_once('=')) {
                Requirement::Equals(key.trim(), value.trim())
            } else if let Some(key) = r.strip_prefix('!') {
                Requirement::Absent(key.trim())
            } else {
                Requirement::Exists(r)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_follow_the_api_servers_operators() {
        let pod = json!({"metadata": {"labels": {"app": "hello", "tier": "web"}}});
        assert!(labels_match("app=hello", &pod));
        assert!(labels_match("app==hello,tier", &pod));
        assert!(labels_match("app!=other,!missing", &pod));
        assert!(!labels_match("app=hello,tier=db", &pod));
        assert!(!labels_match("missing", &pod));
        assert!(labels_match("", &pod));
    }

    #[test]
    fn field_selectors_read_dotted_paths() {
        let event = json!({"type": "Warning", "involvedObject": {"kind": "SpinApp", "name": "a"}});
        assert!(fields_match(
            "involvedObject.kind=SpinApp,involvedObject.name=a,type=Warning",
            &event
        ));
        assert!(!fields_match("involvedObject.name=b", &event));
        assert!(fields_match("type!=Normal", &event));
    }

    #[test]
    fn query_parameters_are_percent_decoded() {
        let q = "labelSelector=core.spinkube.dev%2Fapp-name%3Dhello&limit=5";
        assert_eq!(
            query_param(q, "labelSelector").as_deref(),
            Some("core.spinkube.dev/app-name=hello")
        );
        assert_eq!(query_param(q, "missing"), None);
    }
}
