//! HTTP middleware (`dependencies.middleware = [...]` on a `[[trigger.http]]`) belongs
//! to the trigger, but is composed into the component the trigger runs, which is where
//! the runtime looks for code. So, as Spin does, a trigger's dependencies move onto its
//! component; when other triggers run the same component, the wrapped trigger gets a
//! copy of the component of its own (`<component>-for-<trigger>`), so each set of
//! middleware has one component. A component with middleware states the `middleware`
//! host requirement, so a runtime that cannot compose it refuses the app.

use serde_json::Value;

use crate::locked::LockedApp;

/// The host requirement of a component that has middleware.
pub const MIDDLEWARE_REQUIREMENT: &str = "middleware";

/// Moves every trigger's `trigger_dependencies` onto its component (see the module).
pub fn attach_to_components(app: &mut LockedApp) {
    for index in 0..app.triggers.len() {
        let trigger = &app.triggers[index];
        if trigger.trigger_dependencies.values().all(Vec::is_empty) {
            continue;
        }
        let Some(component_id) = component_of(&trigger.trigger_config).map(str::to_string) else {
            continue;
        };
        let Some(component) = app.component(&component_id).cloned() else {
            continue;
        };
        let shared = app.triggers.iter().enumerate().any(|(other, t)| {
            other != index && component_of(&t.trigger_config) == Some(&component_id)
        });
        let mut wrapped = component;
        if shared {
            wrapped.id = unused_id(app, &format!("{component_id}-for-{}", trigger.id));
        }
        let trigger = &mut app.triggers[index];
        let dependencies = std::mem::take(&mut trigger.trigger_dependencies);
        if shared && let Some(config) = trigger.trigger_config.as_object_mut() {
            config.insert("component".into(), Value::from(wrapped.id.clone()));
        }
        wrapped.trigger_dependencies = dependencies;
        wrapped.metadata.insert(
            "resolve-trigger-dependencies-using".into(),
            Value::from(trigger.trigger_type.clone()),
        );
        wrapped
            .host_requirements
            .insert(MIDDLEWARE_REQUIREMENT.into(), Value::from("required"));
        match app.components.iter_mut().find(|c| c.id == wrapped.id) {
            Some(slot) => *slot = wrapped,
            None => app.components.push(wrapped),
        }
    }
}

fn component_of(config: &Value) -> Option<&str> {
    config.get("component").and_then(Value::as_str)
}

/// `id`, or `id-2`, `id-3`... if the app has a component of that id already.
fn unused_id(app: &LockedApp, id: &str) -> String {
    let taken = |candidate: &str| app.components.iter().any(|c| c.id == candidate);
    if !taken(id) {
        return id.to_string();
    }
    (2..)
        .map(|n| format!("{id}-{n}"))
        .find(|candidate| !taken(candidate))
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locked::{LockedDependency, LockedSource};

    fn app(json: &str) -> LockedApp {
        serde_json::from_str(json).unwrap()
    }

    const APP: &str = r#"{
      "spin_lock_version": 1,
      "triggers": [
        {"id": "a", "trigger_type": "http", "trigger_config": {"component": "echo", "route": "/a"}},
        {"id": "b", "trigger_type": "http", "trigger_config": {"component": "echo", "route": "/b"}}
      ],
      "components": [{"id": "echo", "source": {"content_type": "application/wasm", "source": "file:///echo.wasm"}}]
    }"#;

    fn middleware() -> Vec<LockedDependency> {
        vec![LockedDependency {
            source: LockedSource {
                content_type: "application/wasm".into(),
                content: crate::locked::ContentRef {
                    source: Some("file:///mw.wasm".into()),
                    ..Default::default()
                },
            },
            export: None,
            inherit: Default::default(),
        }]
    }

    #[test]
    fn a_shared_component_is_copied_for_the_trigger_with_middleware() {
        let mut app = app(APP);
        app.triggers[0]
            .trigger_dependencies
            .insert("middleware".into(), middleware());
        attach_to_components(&mut app);
        assert_eq!(app.triggers[0].trigger_config["component"], "echo-for-a");
        assert_eq!(app.triggers[1].trigger_config["component"], "echo");
        assert!(app.triggers[0].trigger_dependencies.is_empty());
        let wrapped = app.component("echo-for-a").unwrap();
        assert_eq!(wrapped.trigger_dependencies["middleware"], middleware());
        assert_eq!(wrapped.host_requirements["middleware"], "required");
        assert!(
            app.component("echo")
                .unwrap()
                .trigger_dependencies
                .is_empty()
        );
    }

    #[test]
    fn a_component_of_one_trigger_takes_its_middleware_in_place() {
        let mut app = app(APP);
        app.triggers.pop();
        app.triggers[0]
            .trigger_dependencies
            .insert("middleware".into(), middleware());
        attach_to_components(&mut app);
        assert_eq!(app.components.len(), 1);
        assert_eq!(app.triggers[0].trigger_config["component"], "echo");
        assert_eq!(
            app.components[0].trigger_dependencies["middleware"],
            middleware()
        );
    }
}
