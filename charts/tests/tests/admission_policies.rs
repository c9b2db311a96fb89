//! The chart's ValidatingAdmissionPolicies, evaluated by a CEL interpreter as the API
//! server evaluates them: the writes the operator and the node installer make pass, and
//! the writes a stolen token of theirs would make are refused with the policy's message.

use std::collections::HashMap;

use cel_interpreter::{Context, Program, Value as Cel};
use serde_json::{Value, json};
use spin_operator_chart::render;

const OPERATOR: &str = "system:serviceaccount:spin-system:spin-operator";
const INSTALLER: &str = "system:serviceaccount:spin-system:spin-operator-node-installer";
const LABEL: &str = "spin-kube.dev/containerd-shim-spin";

/// One write as the API server hands it to admission.
struct Write {
    user: &'static str,
    node_name: Option<&'static str>,
    operation: &'static str,
    group: &'static str,
    resource: &'static str,
    object: Value,
    old: Value,
}

fn eval(expression: &str, context: &Context) -> Cel {
    Program::compile(expression)
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
        .execute(context)
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
}

/// `Ok` when every policy matching the write admits it, else the first refusal's message.
fn admit(write: &Write) -> Result<(), String> {
    let policies: Vec<Value> = render(&[])
        .unwrap()
        .into_iter()
        .filter(|m| m.kind() == "ValidatingAdmissionPolicy")
        .map(|m| m.value)
        .collect();
    assert_eq!(policies.len(), 2);
    let mut user = json!({"username": write.user});
    if let Some(node) = write.node_name {
        user["extra"] = json!({"authentication.kubernetes.io/node-name": [node]});
    }
    let request = json!({
        "operation": write.operation,
        "userInfo": user,
        "resource": {"group": write.group, "version": "v1", "resource": write.resource},
    });
    for policy in &policies {
        let spec = &policy["spec"];
        let matched = spec["matchConstraints"]["resourceRules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|rule| {
                let has = |key: &str, value: &str| {
                    rule[key].as_array().unwrap().iter().any(|v| v == value)
                };
                has("apiGroups", write.group)
                    && has("resources", write.resource)
                    && has("operations", write.operation)
            });
        if !matched {
            continue;
        }
        let mut context = Context::default();
        context.add_variable("request", &request).unwrap();
        context.add_variable("object", &write.object).unwrap();
        context.add_variable("oldObject", &write.old).unwrap();
        let conditions = spec["matchConditions"].as_array().unwrap();
        if !conditions
            .iter()
            .all(|c| eval(c["expression"].as_str().unwrap(), &context) == Cel::Bool(true))
        {
            continue;
        }
        let mut variables = HashMap::<String, Cel>::new();
        for variable in spec["variables"].as_array().into_iter().flatten() {
            let value = eval(variable["expression"].as_str().unwrap(), &context);
            variables.insert(variable["name"].as_str().unwrap().into(), value);
            context.add_variable_from_value("variables", variables.clone());
        }
        for validation in spec["validations"].as_array().unwrap() {
            let expression = validation["expression"].as_str().unwrap();
            if eval(expression, &context) != Cel::Bool(true) {
                return Err(validation["message"].as_str().unwrap().to_string());
            }
        }
    }
    Ok(())
}

fn owned_by_app(mut object: Value) -> Value {
    object["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "core.spinkube.dev/v1alpha1", "kind": "SpinApp",
        "name": "hello", "uid": "u1", "controller": true, "blockOwnerDeletion": true,
    }]);
    object
}

fn deployment(pod: Value) -> Value {
    owned_by_app(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {"template": {"spec": pod}},
    }))
}

fn operator(operation: &'static str, resource: &'static str, object: Value, old: Value) -> Write {
    Write {
        user: OPERATOR,
        node_name: None,
        operation,
        group: if resource == "deployments" {
            "apps"
        } else {
            ""
        },
        resource,
        object,
        old,
    }
}

/// The operator creating an app's Deployment whose pods are `pod`.
fn new_app_pod(pod: Value) -> Write {
    operator("CREATE", "deployments", deployment(pod), Value::Null)
}

#[test]
fn the_operator_writes_only_what_a_spin_app_controls() {
    let app_pod = json!({
        "runtimeClassName": "wasmtime-spin-v2",
        "containers": [{"name": "hello", "image": "r/hello:v1"}],
        "volumes": [{"name": "rc", "secret": {"secretName": "hello-inline-runtime-config"}}],
    });
    let runtime_config = owned_by_app(json!({
        "metadata": {"name": "hello-inline-runtime-config", "namespace": "default"},
        "type": "Opaque",
    }));
    // What the operator does: create, then apply again.
    for write in [
        operator(
            "CREATE",
            "deployments",
            deployment(app_pod.clone()),
            Value::Null,
        ),
        operator(
            "UPDATE",
            "deployments",
            deployment(app_pod.clone()),
            deployment(app_pod.clone()),
        ),
        operator(
            "CREATE",
            "services",
            owned_by_app(json!({"metadata": {"name": "hello"}})),
            Value::Null,
        ),
        operator("CREATE", "secrets", runtime_config.clone(), Value::Null),
        operator(
            "UPDATE",
            "secrets",
            runtime_config.clone(),
            runtime_config.clone(),
        ),
    ] {
        assert_eq!(
            admit(&write),
            Ok(()),
            "{} {}",
            write.operation,
            write.resource
        );
    }

    // What a stolen token would try.
    let coredns = json!({
        "metadata": {"name": "coredns", "namespace": "kube-system"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "evil"}]}}},
    });
    let refusals = [
        (
            operator(
                "UPDATE",
                "deployments",
                deployment(app_pod.clone()),
                coredns.clone(),
            ),
            "does not take over an object that no SpinApp controls",
        ),
        (
            operator("UPDATE", "deployments", coredns, Value::Null),
            "writes only objects a SpinApp controls",
        ),
        (
            operator(
                "CREATE",
                "secrets",
                owned_by_app(json!({
                    "metadata": {"name": "hello-inline-runtime-config",
                                 "annotations": {"kubernetes.io/service-account.name": "admin"}},
                    "type": "kubernetes.io/service-account-token",
                })),
                Value::Null,
            ),
            "writes only Opaque Secrets named <app>-inline-runtime-config",
        ),
        (
            operator(
                "CREATE",
                "secrets",
                owned_by_app(
                    json!({"metadata": {"name": "registry-credentials"}, "type": "Opaque"}),
                ),
                Value::Null,
            ),
            "writes only Opaque Secrets named <app>-inline-runtime-config",
        ),
        (
            new_app_pod(json!({
                "containers": [{"name": "c", "image": "i"}],
                "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            })),
            "take nothing of the node",
        ),
        (
            new_app_pod(json!({
                "hostPID": true,
                "containers": [{"name": "c", "image": "i"}],
            })),
            "take nothing of the node",
        ),
        (
            new_app_pod(json!({
                "containers": [{"name": "c", "image": "i"}],
                "initContainers": [{"name": "i", "image": "i",
                                    "securityContext": {"privileged": true}}],
            })),
            "take nothing of the node",
        ),
    ];
    for (write, message) in refusals {
        let refused = admit(&write).expect_err(message);
        assert!(refused.contains(message), "{refused}");
    }

    // Anyone else's writes are not the policy's business.
    let mut other = operator(
        "UPDATE",
        "secrets",
        json!({"metadata": {"name": "x"}}),
        json!({}),
    );
    other.user = "system:serviceaccount:default:builder";
    assert_eq!(admit(&other), Ok(()));
}

fn node(name: &str, labels: Value, taints: Value) -> Value {
    json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": "10.0.0.0/24", "taints": taints},
    })
}

fn installer(node_name: &'static str, object: Value, old: Value) -> Write {
    Write {
        user: INSTALLER,
        node_name: Some(node_name),
        operation: "UPDATE",
        group: "",
        resource: "nodes",
        object,
        old,
    }
}

#[test]
fn the_node_installer_sets_only_its_label_on_its_own_node() {
    let before = node("n1", json!({"kubernetes.io/os": "linux"}), json!([]));
    let labelled = node(
        "n1",
        json!({"kubernetes.io/os": "linux", LABEL: "true"}),
        json!([]),
    );
    assert_eq!(
        admit(&installer("n1", labelled.clone(), before.clone())),
        Ok(())
    );

    let n2 = node("n2", json!({"kubernetes.io/os": "linux"}), json!([]));
    let n2_labelled = node(
        "n2",
        json!({"kubernetes.io/os": "linux", LABEL: "true"}),
        json!([]),
    );
    let refusals = [
        (
            installer("n1", n2_labelled, n2),
            "labels only the node it runs on",
        ),
        (
            installer(
                "n1",
                node(
                    "n1",
                    json!({"kubernetes.io/os": "linux", LABEL: "true", "node-role.kubernetes.io/control-plane": ""}),
                    json!([]),
                ),
                before.clone(),
            ),
            "changes only the label",
        ),
        (
            installer(
                "n1",
                node("n1", json!({LABEL: "true"}), json!([])),
                before.clone(),
            ),
            "changes only the label",
        ),
        (
            installer(
                "n1",
                node(
                    "n1",
                    json!({"kubernetes.io/os": "linux"}),
                    json!([{"key": "k", "effect": "NoSchedule"}]),
                ),
                before.clone(),
            ),
            "changes nothing of its node but the label",
        ),
    ];
    for (write, message) in refusals {
        let refused = admit(&write).expect_err(message);
        assert!(refused.contains(message), "{refused}");
    }
}
