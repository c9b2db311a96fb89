//! Reading one trigger's own settings (`trigger_config` of a locked trigger) for the
//! non-HTTP triggers: keys the trigger type does not know are refused by name, the
//! `component` must name a component of the app, and every error names the trigger.

use serde_json::{Map, Value};
use spin_app::LockedApp;
use spin_app::locked::LockedTrigger;

use crate::RuntimeError;

/// A trigger's settings, checked.
pub struct TriggerSettings<'a> {
    trigger: &'a LockedTrigger,
    config: &'a Map<String, Value>,
    /// The component the trigger runs.
    pub component: &'a str,
}

impl<'a> TriggerSettings<'a> {
    /// `kind` names the trigger type in messages ("Redis"); `known` lists its keys
    /// besides `component`.
    pub fn read(
        app: &LockedApp,
        trigger: &'a LockedTrigger,
        kind: &str,
        known: &[&str],
    ) -> Result<Self, RuntimeError> {
        let problem = |p: String| problem(trigger, p);
        let config = trigger
            .trigger_config
            .as_object()
            .ok_or_else(|| problem("trigger_config is not an object".into()))?;
        if let Some(key) = config
            .keys()
            .find(|k| k.as_str() != "component" && !known.contains(&k.as_str()))
        {
            let expected = std::iter::once("component")
                .chain(known.iter().copied())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(problem(format!(
                "unknown {kind} trigger setting `{key}` (expected {expected})"
            )));
        }
        let component = match config.get("component") {
            Some(Value::String(component)) => component.as_str(),
            _ => return Err(problem("has no `component`".into())),
        };
        if app.component(component).is_none() {
            return Err(problem(format!(
                "names component `{component}`, which the app does not define"
            )));
        }
        Ok(Self {
            trigger,
            config,
            component,
        })
    }

    /// A string setting; `None` when absent, an error when not a string.
    pub fn text(&self, key: &str) -> Result<Option<&'a str>, RuntimeError> {
        match self.config.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.problem(format!("`{key}` must be a string, not {other}"))),
        }
    }

    /// An error about this trigger.
    pub fn problem(&self, problem: impl Into<String>) -> RuntimeError {
        self::problem(self.trigger, problem.into())
    }
}

fn problem(trigger: &LockedTrigger, problem: String) -> RuntimeError {
    RuntimeError::Trigger {
        trigger: trigger.id.clone(),
        problem,
    }
}
