//! Field ownership, as the API server keeps it in `metadata.managedFields` (FieldsV1:
//! `{"f:spec": {"f:replicas": {}}}`), and server-side apply's rules built on it:
//!
//! - an apply by manager M sets the fields in its configuration and makes M their
//!   owner; fields M applied before and leaves out now are removed, unless another
//!   manager owns them too;
//! - applying a field that another manager owns, with a different value, is a conflict
//!   (409, naming the manager and the field) unless the apply is forced, which takes
//!   the field over; the same value makes both owners;
//! - an update (merge patch, PUT, the scale subresource) makes its manager the sole
//!   owner of the fields it changed, taking them from any applier.
//!
//! Simplification: lists are atomic (one field each, as `x-kubernetes-list-type:
//! atomic`), where the real server merges some lists by key (containers by name).
//! `status` and the server's own metadata are never owned here.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// A field: the keys from the object's root to a scalar, a list or an empty object.
type FieldPath = Vec<String>;

/// Metadata the server sets; never part of a manager's fields.
const SERVER_METADATA: [&str; 8] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "name",
    "namespace",
];

/// One manager's entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: &'static str,
    api_version: Value,
    fields: BTreeSet<FieldPath>,
}

/// A refused apply: who owns what, with the message the API server gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub message: String,
    /// `(manager, ".spec.replicas")` pairs.
    pub conflicts: Vec<(String, String)>,
}

/// The fields of an object (its configuration's leaves).
fn fields_of(object: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    let Some(map) = object.as_object() else {
        return out;
    };
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                let mut meta = value.clone();
                if let Some(m) = meta.as_object_mut() {
                    for server in SERVER_METADATA {
                        m.remove(server);
                    }
                }
                leaves(&meta, &mut vec![key.clone()], &mut out);
            }
            _ => leaves(value, &mut vec![key.clone()], &mut out),
        }
    }
    out
}

fn leaves(value: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (key, child) in map {
                path.push(key.clone());
                leaves(child, path, out);
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

fn get<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn set(value: &mut Value, path: &[String], new: Value) {
    let mut at = value;
    for key in &path[..path.len() - 1] {
        if !at.get(key).is_some_and(Value::is_object) {
            at[key.as_str()] = json!({});
        }
        at = at.get_mut(key).unwrap();
    }
    at[path[path.len() - 1].as_str()] = new;
}

/// Removes a field and the objects it leaves empty.
fn remove(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if let Some(parent) = parents
        .iter()
        .try_fold(&mut *value, |v, key| v.get_mut(key))
        .and_then(Value::as_object_mut)
    {
        parent.remove(last);
        if parent.is_empty() && !parents.is_empty() {
            remove(value, parents);
        }
    }
}

/// Whether two fields overlap (one is the other or holds it).
fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn dotted(path: &[String]) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

fn entries(object: Option<&Value>) -> Vec<Entry> {
    let Some(list) = object.and_then(|o| o["metadata"]["managedFields"].as_array()) else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let mut fields = BTreeSet::new();
            fields_v1_paths(&e["fieldsV1"], &mut Vec::new(), &mut fields);
            Entry {
                manager: e["manager"].as_str().unwrap_or_default().to_string(),
                operation: if e["operation"] == "Apply" {
                    "Apply"
                } else {
                    "Update"
                },
                api_version: e["apiVersion"].clone(),
                fields,
            }
        })
        .collect()
}

fn fields_v1_paths(node: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
    let Some(map) = node.as_object() else {
        return;
    };
    if map.is_empty() && !path.is_empty() {
        out.insert(path.clone());
    }
    for (key, child) in map {
        if let Some(name) = key.strip_prefix("f:") {
            path.push(name.to_string());
            fields_v1_paths(child, path, out);
            path.pop();
        }
    }
}

fn fields_v1(fields: &BTreeSet<FieldPath>) -> Value {
    let mut root = Value::Object(Map::new());
    for path in fields {
        let mut at = &mut root;
        for key in path {
            at = at
                .as_object_mut()
                .unwrap()
                .entry(format!("f:{key}"))
                .or_insert_with(|| json!({}));
        }
    }
    root
}

fn render(entries: Vec<Entry>) -> Value {
    Value::Array(
        entries
            .into_iter()
            .filter(|e| !e.fields.is_empty())
            .map(|e| {
                json!({
                    "manager": e.manager,
                    "operation": e.operation,
                    "apiVersion": e.api_version,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields_v1(&e.fields),
                })
            })
            .collect(),
    )
}

/// The object after `manager` applies `applied` over `existing` (its metadata the
/// server's own still to be set by the caller), or the conflicts that refuse it.
pub fn apply(
    existing: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, Conflict> {
    let mut entries = entries(existing);
    let applying = fields_of(applied);
    let current = existing.cloned().unwrap_or_else(|| json!({}));

    let mut conflicts = Vec::new();
    for other in entries.iter().filter(|e| e.manager != manager) {
        for owned in &other.fields {
            for field in applying.iter().filter(|f| overlaps(f, owned)) {
                if get(&current, field) != get(applied, field) {
                    conflicts.push((other.manager.clone(), dotted(field)));
                }
            }
        }
    }
    conflicts.dedup();
    if !conflicts.is_empty() && !force {
        let listed: Vec<String> = conflicts
            .iter()
            .map(|(m, f)| format!("conflict with \"{m}\": {f}"))
            .collect();
        return Err(Conflict {
            message: format!(
                "Apply failed with {} conflict{}: {}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                listed.join("; ")
            ),
            conflicts,
        });
    }
    if force {
        for other in entries.iter_mut().filter(|e| e.manager != manager) {
            other.fields.retain(|owned| {
                !applying
                    .iter()
                    .any(|f| overlaps(f, owned) && get(&current, f) != get(applied, f))
            });
        }
    }

    let mut object = current;
    let previously: BTreeSet<FieldPath> = entries
        .iter()
        .filter(|e| e.manager == manager && e.operation == "Apply")
        .flat_map(|e| e.fields.clone())
        .collect();
    for dropped in previously.difference(&applying) {
        let owned_elsewhere = entries
            .iter()
            .filter(|e| e.manager != manager)
            .any(|e| e.fields.iter().any(|f| overlaps(f, dropped)));
        if !owned_elsewhere {
            remove(&mut object, dropped);
        }
    }
    for field in &applying {
        set(&mut object, field, get(applied, field).cloned().unwrap());
    }
    for key in ["apiVersion", "kind"] {
        object[key] = applied[key].clone();
    }
    for key in ["name", "namespace"] {
        if let Some(value) = applied["metadata"].get(key) {
            object["metadata"][key] = value.clone();
        }
    }

    entries.retain(|e| !(e.manager == manager && e.operation == "Apply"));
    entries.push(Entry {
        manager: manager.to_string(),
        operation: "Apply",
        api_version: applied["apiVersion"].clone(),
        fields: applying,
    });
    object["metadata"]["managedFields"] = render(entries);
    Ok(object)
}

/// Records an update by `manager` that turned `before` into `after`: it owns the fields
/// it changed, alone. Returns `after` with its managedFields.
pub fn update(before: &Value, mut after: Value, manager: &str) -> Value {
    let (old, new) = (fields_of(before), fields_of(&after));
    let changed: BTreeSet<FieldPath> = old
        .union(&new)
        .filter(|f| get(before, f) != get(&after, f))
        .filter(|f| get(&after, f).is_some())
        .cloned()
        .collect();
    let mut entries = entries(Some(before));
    if !changed.is_empty() {
        for entry in &mut entries {
            entry
                .fields
                .retain(|owned| !changed.iter().any(|f| overlaps(f, owned)));
        }
        match entries
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == "Update")
        {
            Some(entry) => entry.fields.extend(changed),
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update",
                api_version: after["apiVersion"].clone(),
                fields: changed,
            }),
        }
    }
    after["metadata"]["managedFields"] = render(entries);
    after
}

/// The owners of a field (`.spec.replicas`) in an object's managedFields.
pub fn owners(object: &Value, field: &str) -> Vec<String> {
    let path: FieldPath = field
        .trim_start_matches('.')
        .split('.')
        .map(str::to_string)
        .collect();
    entries(Some(object))
        .into_iter()
        .filter(|e| e.fields.iter().any(|f| overlaps(f, &path)))
        .map(|e| e.manager)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: Option<i64>, image: &str) -> Value {
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "hello", "labels": {"app": "hello"}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
        });
        if let Some(n) = replicas {
            d["spec"]["replicas"] = n.into();
        }
        d
    }

    #[test]
    fn an_applier_owns_what_it_applies_and_removes_what_it_drops() {
        let first = apply(None, &deployment(Some(2), "v1"), "operator", false).unwrap();
        assert_eq!(owners(&first, ".spec.replicas"), ["operator"]);
        let fields = &first["metadata"]["managedFields"][0]["fieldsV1"];
        assert_eq!(fields["f:spec"]["f:replicas"], json!({}));
        let second = apply(Some(&first), &deployment(None, "v2"), "operator", false).unwrap();
        assert!(second["spec"].get("replicas").is_none());
        assert_eq!(
            second["spec"]["template"]["spec"]["containers"][0]["image"],
            "v2"
        );
    }

    #[test]
    fn a_different_value_of_anothers_field_conflicts_unless_forced() {
        let applied = apply(None, &deployment(Some(2), "v1"), "operator", false).unwrap();
        let mut scaled = applied.clone();
        scaled["spec"]["replicas"] = 5.into();
        let scaled = update(&applied, scaled, "hpa");
        assert_eq!(owners(&scaled, ".spec.replicas"), ["hpa"]);

        let e = apply(Some(&scaled), &deployment(Some(2), "v1"), "operator", false).unwrap_err();
        assert_eq!(
            e.conflicts,
            [("hpa".to_string(), ".spec.replicas".to_string())]
        );
        assert!(
            e.message.contains("conflict with \"hpa\": .spec.replicas"),
            "{}",
            e.message
        );

        // The same value is shared; leaving the field out leaves it to its owner.
        let same = apply(Some(&scaled), &deployment(Some(5), "v1"), "operator", false).unwrap();
        assert_eq!(owners(&same, ".spec.replicas"), ["hpa", "operator"]);
        let without = apply(Some(&scaled), &deployment(None, "v1"), "operator", false).unwrap();
        assert_eq!(without["spec"]["replicas"], 5);

        let forced = apply(Some(&scaled), &deployment(Some(2), "v1"), "operator", true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 2);
        assert_eq!(owners(&forced, ".spec.replicas"), ["operator"]);
    }

    #[test]
    fn fields_another_manager_owns_survive_when_the_applier_drops_them() {
        let a = apply(None, &deployment(Some(2), "v1"), "one", false).unwrap();
        let b = apply(Some(&a), &deployment(Some(2), "v1"), "two", false).unwrap();
        let c = apply(Some(&b), &deployment(None, "v1"), "one", false).unwrap();
        assert_eq!(c["spec"]["replicas"], 2);
        assert_eq!(owners(&c, ".spec.replicas"), ["two"]);
    }
}
