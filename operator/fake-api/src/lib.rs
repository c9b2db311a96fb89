//! An in-memory Kubernetes API server, enough for the SpinApp operator and the `spin
//! kube` CLI: GET (objects, and lists filtered by label and field selectors), watches
//! (every change streamed from a resourceVersion), server-side apply with field
//! ownership and conflicts ([`ownership`]), the scale subresource, JSON merge patches
//! (objects and status), DELETE with finalizers and garbage collection of dependents, Event creation
//! (events.k8s.io/v1, readable as core/v1 too), pod logs, and RBAC refusals on demand. It answers through a tower service, so the real
//! `kube::Client` talks to it unchanged.

mod http_server;
pub mod kubectl;
mod logs;
pub mod ownership;
mod scale;
mod selectors;
mod watch;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    /// Bumped on every log append or end, to wake log followers.
    log_changes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for FakeApi {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            log_changes: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    requests: Vec<String>,
    version: u64,
    /// API path prefixes answered with 404, as for a CRD that is not installed.
    missing_apis: Vec<String>,
    /// (verb, API path prefix) answered with 403, as RBAC refuses them.
    forbidden: Vec<(&'static str, String)>,
    logs: logs::Logs,
    changes: watch::Changes,
}

/// The API path of a namespaced object: `/api/v1/...` for core kinds, else `/apis/...`.
pub fn path(api_version: &str, plural: &str, ns: &str, name: &str) -> String {
    let prefix = if api_version.contains('/') {
        "/apis"
    } else {
        "/api"
    };
    format!("{prefix}/{api_version}/namespaces/{ns}/{plural}/{name}")
}

/// The `deletionTimestamp` set on an object deleted while it has finalizers (the fake
/// has no clock; only presence matters to controllers).
const DELETION_TIME: &str = "2026-01-01T00:00:00Z";

/// Kinds stored without a namespace.
const CLUSTER_SCOPED: &[&str] = &["Node", "Namespace", "RuntimeClass", "ClusterRole"];

/// The URL path of a cluster-scoped object.
pub fn cluster_path(api_version: &str, plural: &str, name: &str) -> String {
    let prefix = if api_version.contains('/') {
        "/apis"
    } else {
        "/api"
    };
    format!("{prefix}/{api_version}/{plural}/{name}")
}

fn plural(kind: &str) -> String {
    format!("{}s", kind.to_ascii_lowercase())
}

impl FakeApi {
    pub fn client(&self) -> kube::Client {
        let api = self.clone();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let api = api.clone();
            async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
        });
        kube::Client::new(service, "default")
    }

    /// Stores an object given as YAML (with apiVersion, kind, metadata.name/namespace).
    /// Stores an object; namespaced kinds without a namespace go to `default`.
    pub fn insert_yaml(&self, yaml: &str) {
        let mut value: Value = serde_yaml::from_str(yaml).unwrap();
        let api_version = value["apiVersion"].as_str().unwrap().to_string();
        let kind = value["kind"].as_str().unwrap().to_string();
        let name = value["metadata"]["name"].as_str().unwrap().to_string();
        let key = if CLUSTER_SCOPED.contains(&kind.as_str()) {
            cluster_path(&api_version, &plural(&kind), &name)
        } else {
            let ns = value["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            value["metadata"]["namespace"] = json!(ns);
            path(&api_version, &plural(&kind), &ns, &name)
        };
        value["metadata"]["uid"] = json!(format!("uid-{name}"));
        value["metadata"]["generation"] = json!(1);
        let mut state = self.state.lock().unwrap();
        state.version += 1;
        value["metadata"]["resourceVersion"] = json!(state.version.to_string());
        let version = state.version;
        state.changes.record(version, &key, "ADDED", &value);
        state.objects.insert(key, value);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    /// Changes a stored object in place, as another actor would.
    pub fn edit(&self, path: &str, f: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock().unwrap();
        state.version += 1;
        let version = state.version;
        let object = state.objects.get_mut(path).expect("object exists");
        f(object);
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let object = object.clone();
        state.changes.record(version, path, "MODIFIED", &object);
    }

    pub fn remove(&self, path: &str) {
        self.state.lock().unwrap().objects.remove(path);
    }

    /// Answers every request under `/apis/<group>/` with 404 from now on, as the API
    /// server does when the group's CRDs are not installed.
    pub fn without_group(&self, group: &str) {
        let mut state = self.state.lock().unwrap();
        state.missing_apis.push(format!("/apis/{group}/"));
    }

    /// Refuses `verb` (`get`, `list`, `watch`, `create`, `patch`, `update`, `delete`) on
    /// every path under `path_prefix` with 403 from now on, as RBAC does for a user
    /// without that permission.
    pub fn forbid(&self, verb: &'static str, path_prefix: &str) {
        let mut state = self.state.lock().unwrap();
        state.forbidden.push((verb, path_prefix.to_string()));
    }

    /// `METHOD path?query` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    async fn handle(&self, req: Request<kube::client::Body>) -> Response<Body> {
        let method = req.method().clone();
        let uri = req.uri().to_string();
        let path = req.uri().path().to_string();
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let mut state = self.state.lock().unwrap();
        state.requests.push(format!("{method} {uri}"));
        if state.missing_apis.iter().any(|p| path.starts_with(p)) {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource"}),
            );
        }
        let verb = verb(&method, &path, &query);
        if let Some((verb, _)) = state
            .forbidden
            .iter()
            .find(|(v, prefix)| *v == verb && path.starts_with(prefix.as_str()))
        {
            return forbidden(verb, &path);
        }
        state.version += 1;
        let version = state.version.to_string();
        match method {
            Method::GET if uri.contains("watch=true") => state.changes.watch(&path, &query),
            Method::GET if path.ends_with("/log") => {
                let pod_path = path.trim_end_matches("/log");
                if !state.objects.contains_key(pod_path) {
                    return not_found(pod_path);
                }
                self.pod_log(pod_path, &state.logs, &query)
            }
            Method::GET if path.ends_with("/scale") => {
                match state.objects.get(path.trim_end_matches("/scale")) {
                    Some(obj) => json_response(StatusCode::OK, &scale::of(obj)),
                    None => not_found(&path),
                }
            }
            Method::PATCH | Method::PUT if path.ends_with("/scale") => {
                let object_path = path.trim_end_matches("/scale").to_string();
                let request: Value = serde_json::from_slice(&body).unwrap_or_default();
                let Some(before) = state.objects.get(&object_path).cloned() else {
                    return not_found(&path);
                };
                let Some(after) = scale::scaled(&before, &request) else {
                    return json_response(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422, "message": "spec.replicas: Required value"}),
                    );
                };
                let mut after = ownership::update(&before, after, &updater(&query));
                after["metadata"]["resourceVersion"] = json!(version);
                if before["spec"] != after["spec"] {
                    after["metadata"]["generation"] =
                        json!(before["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
                }
                let number = state.version;
                state
                    .changes
                    .record(number, &object_path, "MODIFIED", &after);
                state.objects.insert(object_path, after.clone());
                json_response(StatusCode::OK, &scale::of(&after))
            }
            Method::GET => {
                if let Some(obj) = state.objects.get(&path) {
                    return json_response(StatusCode::OK, obj);
                }
                if !is_collection(&path) {
                    return not_found(&path);
                }
                let labels = selectors::query_param(&query, "labelSelector").unwrap_or_default();
                let fields = selectors::query_param(&query, "fieldSelector").unwrap_or_default();
                let items: Vec<Value> = state
                    .objects
                    .iter()
                    .filter(|(k, _)| in_collection(&path, k))
                    .map(|(_, v)| v)
                    .filter(|v| selectors::labels_match(&labels, v))
                    .filter(|v| selectors::fields_match(&fields, v))
                    .cloned()
                    .collect();
                json_response(
                    StatusCode::OK,
                    &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": version}, "items": items}),
                )
            }
            Method::DELETE => {
                let has_finalizers = state.objects.get(&path).is_some_and(|o| {
                    o["metadata"]["finalizers"]
                        .as_array()
                        .is_some_and(|f| !f.is_empty())
                });
                if has_finalizers {
                    // Kept until its finalizers are removed, marked as being deleted.
                    let obj = state.objects.get_mut(&path).unwrap();
                    if obj["metadata"]["deletionTimestamp"].is_null() {
                        obj["metadata"]["deletionTimestamp"] = json!(DELETION_TIME);
                    }
                    obj["metadata"]["resourceVersion"] = json!(version);
                    let obj = obj.clone();
                    let number = state.version;
                    state.changes.record(number, &path, "MODIFIED", &obj);
                    return json_response(StatusCode::OK, &obj);
                }
                let Some(deleted) = state.objects.remove(&path) else {
                    return not_found(&path);
                };
                let collected = collect_dependents(&mut state.objects, &deleted);
                let number = state.version;
                for (key, object) in std::iter::once((path, deleted.clone())).chain(collected) {
                    state.changes.record(number, &key, "DELETED", &object);
                }
                json_response(StatusCode::OK, &deleted)
            }
            Method::PATCH if path.ends_with("/status") => {
                let object_path = path.trim_end_matches("/status").to_string();
                let patch: Value = serde_json::from_slice(&body).unwrap();
                let Some(obj) = state.objects.get_mut(&object_path) else {
                    return not_found(&path);
                };
                if obj["status"] == patch["status"] {
                    return json_response(StatusCode::OK, obj);
                }
                obj["status"] = patch["status"].clone();
                obj["metadata"]["resourceVersion"] = json!(version);
                let obj = obj.clone();
                let number = state.version;
                state.changes.record(number, &object_path, "MODIFIED", &obj);
                json_response(StatusCode::OK, &obj)
            }
            Method::PATCH if content_type.starts_with("application/merge-patch+json") => {
                let patch: Value = serde_json::from_slice(&body).unwrap();
                let Some(obj) = state.objects.get_mut(&path) else {
                    return not_found(&path);
                };
                let before = obj.clone();
                merge_patch(obj, &patch);
                *obj = ownership::update(&before, obj.clone(), &updater(&query));
                obj["metadata"]["resourceVersion"] = json!(version);
                let obj = obj.clone();
                let number = state.version;
                let finalized = !obj["metadata"]["deletionTimestamp"].is_null()
                    && obj["metadata"]["finalizers"]
                        .as_array()
                        .is_none_or(|f| f.is_empty());
                if finalized {
                    state.objects.remove(&path);
                    state.changes.record(number, &path, "DELETED", &obj);
                } else {
                    state.changes.record(number, &path, "MODIFIED", &obj);
                }
                json_response(StatusCode::OK, &obj)
            }
            Method::PATCH if content_type.starts_with("application/apply-patch") => {
                let applied: Value = serde_json::from_slice(&body).unwrap();
                let existing = state.objects.get(&path).cloned();
                let manager = selectors::query_param(&query, "fieldManager").unwrap_or_default();
                let force = selectors::query_param(&query, "force").as_deref() == Some("true");
                let mut applied =
                    match ownership::apply(existing.as_ref(), &applied, &manager, force) {
                        Ok(object) => object,
                        Err(refused) => return apply_conflict(&refused),
                    };
                let generation = existing
                    .as_ref()
                    .map(|e| {
                        e["metadata"]["generation"].as_i64().unwrap_or(1)
                            + i64::from(e["spec"] != applied["spec"])
                    })
                    .unwrap_or(1);
                // Unique per kind and name, so that owner references tell objects apart.
                applied["metadata"]["uid"] = existing
                    .as_ref()
                    .map(|e| e["metadata"]["uid"].clone())
                    .unwrap_or_else(|| {
                        let mut segments = path.rsplit('/');
                        let (name, plural) = (segments.next(), segments.next());
                        json!(format!("uid-{}-{}", plural.unwrap(), name.unwrap()))
                    });
                applied["metadata"]["generation"] = json!(generation);
                applied["metadata"]["resourceVersion"] = json!(version);
                // As the API server does: the namespace comes from the URL.
                if let Some(ns) = path
                    .split("/namespaces/")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                {
                    applied["metadata"]["namespace"] = json!(ns);
                }
                if let Some(existing) = existing.as_ref().filter(|e| unchanged(e, &applied)) {
                    // As the API server: a no-op apply writes nothing and wakes no watch.
                    return json_response(StatusCode::OK, existing);
                }
                let kind = if existing.is_some() {
                    "MODIFIED"
                } else {
                    "ADDED"
                };
                let number = state.version;
                state.changes.record(number, &path, kind, &applied);
                state.objects.insert(path, applied.clone());
                json_response(StatusCode::OK, &applied)
            }
            Method::POST if !path.ends_with("/events") => {
                let mut obj: Value = serde_json::from_slice(&body).unwrap();
                let name = obj["metadata"]["name"].as_str().unwrap().to_string();
                let key = format!("{path}/{name}");
                if state.objects.contains_key(&key) {
                    return conflict(&key);
                }
                obj["metadata"]["resourceVersion"] = json!(version);
                let number = state.version;
                state.changes.record(number, &key, "ADDED", &obj);
                state.objects.insert(key, obj.clone());
                json_response(StatusCode::CREATED, &obj)
            }
            Method::PUT => {
                let mut obj: Value = serde_json::from_slice(&body).unwrap();
                let current = state
                    .objects
                    .get(&path)
                    .map(|o| o["metadata"]["resourceVersion"].clone());
                if current.as_ref() != Some(&obj["metadata"]["resourceVersion"]) {
                    return conflict(&path);
                }
                obj = ownership::update(&state.objects[&path], obj, &updater(&query));
                obj["metadata"]["resourceVersion"] = json!(version);
                let number = state.version;
                state.changes.record(number, &path, "MODIFIED", &obj);
                state.objects.insert(path, obj.clone());
                json_response(StatusCode::OK, &obj)
            }
            Method::POST if path.ends_with("/events") => {
                let event: Value = serde_json::from_slice(&body).unwrap();
                let name = event["metadata"]["name"]
                    .as_str()
                    .unwrap_or("event")
                    .to_string();
                if let Some(core_path) = path.strip_prefix("/apis/events.k8s.io/v1/") {
                    // One resource behind both API groups, as in the real API server.
                    state
                        .objects
                        .insert(format!("/api/v1/{core_path}/{name}"), core_event(&event));
                }
                state
                    .objects
                    .insert(format!("{path}/{name}"), event.clone());
                json_response(StatusCode::CREATED, &event)
            }
            _ => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "MethodNotAllowed", "code": 405, "message": format!("{method} {path}")}),
            ),
        }
    }

    /// Events stored so far, as (reason, note).
    pub fn events(&self) -> Vec<(String, String)> {
        self.state
            .lock()
            .unwrap()
            .objects
            .iter()
            .filter(|(k, _)| k.contains("/events/"))
            .map(|(_, e)| {
                (
                    e["reason"].as_str().unwrap_or_default().to_string(),
                    e["note"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// Response bodies: whole JSON documents, or a watch stream that stays open.
pub type Body = BoxBody<Bytes, std::convert::Infallible>;

/// RFC 7386 JSON merge patch: objects merge, `null` deletes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge_patch(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(value).unwrap())).boxed())
        .unwrap()
}

/// Whether `after` differs from `before` only in what the server would rewrite anyway.
fn unchanged(before: &Value, after: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        v["metadata"]["resourceVersion"] = Value::Null;
        v
    };
    strip(before) == strip(after)
}

/// The manager of an update: its `fieldManager`, else what the API server derives from
/// an unnamed client.
fn updater(query: &str) -> String {
    selectors::query_param(query, "fieldManager").unwrap_or_else(|| "unknown".into())
}

/// 409 for an apply that conflicts with other managers, as the API server words it.
fn apply_conflict(refused: &ownership::Conflict) -> Response<Body> {
    let causes: Vec<Value> = refused
        .conflicts
        .iter()
        .map(|(manager, field)| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{manager}\""), "field": field})
        })
        .collect();
    json_response(
        StatusCode::CONFLICT,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": refused.message, "details": {"causes": causes}}),
    )
}

/// The RBAC verb of a request.
fn verb(method: &Method, path: &str, query: &str) -> &'static str {
    match *method {
        Method::GET if query.contains("watch=true") => "watch",
        Method::GET if is_collection(path) => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "unknown",
    }
}

/// Whether `path` names a collection: `/api/V/PLURAL`, `/apis/G/V/PLURAL`, or either
/// with `namespaces/NS/` before `PLURAL`.
fn is_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let rest = match segments.first() {
        Some(&"api") => &segments[segments.len().min(2)..],
        Some(&"apis") => &segments[segments.len().min(3)..],
        _ => return false,
    };
    matches!(rest, [_] | ["namespaces", _, _])
}

/// Removes, recursively, the objects whose `ownerReferences` name a removed one: the
/// garbage collector's foreground work, done at once. Returns what it removed.
fn collect_dependents(
    objects: &mut BTreeMap<String, Value>,
    deleted: &Value,
) -> Vec<(String, Value)> {
    let mut removed = Vec::new();
    let mut uids = vec![deleted["metadata"]["uid"].clone()];
    while let Some(uid) = uids.pop() {
        let dependents: Vec<String> = objects
            .iter()
            .filter(|(_, o)| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in dependents {
            if let Some(object) = objects.remove(&key) {
                uids.push(object["metadata"]["uid"].clone());
                removed.push((key, object));
            }
        }
    }
    removed
}

/// The core/v1 view of an events.k8s.io/v1 Event.
fn core_event(event: &Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": event["metadata"],
        "involvedObject": event["regarding"],
        "reason": event["reason"],
        "message": event["note"],
        "type": event["type"],
        "eventTime": event["eventTime"],
        "lastTimestamp": event["deprecatedLastTimestamp"],
        "count": event["deprecatedCount"],
        "reportingComponent": event["reportingController"],
    })
}

/// Keys of the objects in a collection: namespaced (`.../namespaces/NS/PLURAL`) or
/// across namespaces (`/apis/G/V/PLURAL`).
pub(crate) fn in_collection(collection: &str, key: &str) -> bool {
    if let Some(rest) = key.strip_prefix(&format!("{collection}/")) {
        return !rest.contains('/');
    }
    let Some((prefix, plural)) = collection.rsplit_once('/') else {
        return false;
    };
    let segments: Vec<&str> = key
        .strip_prefix(&format!("{prefix}/namespaces/"))
        .map(|r| r.split('/').collect())
        .unwrap_or_default();
    segments.len() == 3 && segments[1] == plural
}

fn conflict(path: &str) -> Response<Body> {
    json_response(
        StatusCode::CONFLICT,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": format!("{path} was changed or exists")}),
    )
}

fn forbidden(verb: &str, path: &str) -> Response<Body> {
    json_response(
        StatusCode::FORBIDDEN,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403, "message": format!("{path} is forbidden: User \"test-user\" cannot {verb} it")}),
    )
}

fn not_found(path: &str) -> Response<Body> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{path} not found")}),
    )
}
