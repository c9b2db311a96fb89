//! The HTTP trigger's entries (`[[trigger.http]]`: `route`, `component`, `executor`):
//! the app's routes, and the components served only by service chaining
//! (`route = { private = true }`).

use std::convert::Infallible;
use std::sync::Arc;

use serde_json::Value;
use spin_app::LockedApp;
use spin_app::locked::LockedTrigger;
use spin_app::routes::Router;

use super::worlds::{HandlerKind, detect_handler};
use crate::trigger::entry_point::CompiledComponent;
use crate::trigger::run::Ended;
use crate::trigger::trigger_type::{AppValues, Trigger};
use crate::{PreparedApp, RuntimeError};

/// The app's HTTP triggers.
#[derive(Debug, Default)]
pub struct HttpTrigger {
    pub router: Router,
    /// Every component an HTTP trigger names, private ones included.
    components: Vec<String>,
}

impl Trigger for HttpTrigger {
    const TYPE: &'static str = "http";
    type Handler = HandlerKind;
    type Error = Infallible;

    fn read(app: &LockedApp, _: &AppValues) -> Result<Option<Self>, RuntimeError> {
        let base = app.http_base().to_string();
        let mut http = Self::default();
        for trigger in app.triggers.iter().filter(|t| t.trigger_type == Self::TYPE) {
            let (component, route) = entry(trigger)?;
            if app.component(&component).is_none() {
                return Err(RuntimeError::Trigger {
                    trigger: trigger.id.clone(),
                    problem: format!(
                        "names component `{component}`, which the app does not define"
                    ),
                });
            }
            if let Some(route) = &route {
                http.router.add(&base, route, &component)?;
            }
            http.components.push(component);
        }
        Ok((!http.components.is_empty()).then_some(http))
    }

    fn runs(&self, id: &str) -> bool {
        self.components.iter().any(|c| c == id)
    }

    fn reachable(&self) -> bool {
        !self.router.is_empty()
    }

    /// Routes are listed with the address the server bound ([`super::HttpServer`]).
    fn describe(&self) -> Vec<String> {
        Vec::new()
    }

    fn handler(component: &CompiledComponent<'_>) -> Result<HandlerKind, RuntimeError> {
        detect_handler(component)
    }

    /// The routes are served by the [`super::HttpServer`] bound by the caller (its
    /// address must be known, or bound inside a pod's network namespace, before it
    /// serves), which [`crate::trigger::run::run_triggers`] drains on stop.
    async fn run(self: Arc<Self>, _: Arc<PreparedApp>) -> Result<Ended, Infallible> {
        std::future::pending().await
    }
}

/// One entry's component and route (`None`: private).
fn entry(trigger: &LockedTrigger) -> Result<(String, Option<String>), RuntimeError> {
    let problem = |p: String| RuntimeError::Trigger {
        trigger: trigger.id.clone(),
        problem: p,
    };
    let config = trigger
        .trigger_config
        .as_object()
        .ok_or_else(|| problem("trigger_config is not an object".into()))?;
    for key in config.keys() {
        if !["route", "component", "executor"].contains(&key.as_str()) {
            return Err(problem(format!(
                "unknown HTTP trigger setting `{key}` (expected route, component, executor)"
            )));
        }
    }
    if let Some(executor) = config.get("executor") {
        let kind = executor
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("spin");
        if kind != "spin" {
            return Err(problem(format!(
                "executor type `{kind}` is not supported; remove `executor` to use the default (spin)"
            )));
        }
    }
    let component = config
        .get("component")
        .and_then(Value::as_str)
        .ok_or_else(|| problem("has no `component`".into()))?
        .to_string();
    let route = match config.get("route") {
        Some(Value::String(route)) => Some(route.clone()),
        Some(Value::Object(o)) if o.get("private").and_then(Value::as_bool) == Some(true) => None,
        Some(other) => {
            return Err(problem(format!(
                "`route` must be a path like \"/...\" or {{ private = true }}, not {other}"
            )));
        }
        None => {
            return Err(problem(
                "has no `route`; add one, like route = \"/...\"".into(),
            ));
        }
    };
    Ok((component, route))
}
