//! The cron trigger (`[[trigger.cron]]` with `component` and `cron_expression`, as
//! Spin's cron trigger plugin defines it): at every time the expression names (UTC;
//! six fields with seconds first, like `*/5 * * * * *`, or the classic five, plus
//! `@hourly` and the like), the component's `handle-cron-event` runs once in a fresh
//! instance with the HTTP request's isolation, memory cap and timeout, given the time
//! as Unix seconds. Both forms of the export are run: the original plugin's plain
//! function and the current plugin's WASIp3 `async` one. A tick that finds no free instance waits for one; ticks that pass
//! meanwhile are skipped, never queued. A failing run is logged and costs only itself.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use spin_app::LockedApp;
use wasmtime::component::types::ComponentItem;

use super::delivery::{Handled, deliver, run_event};
use super::entry_point::{CompiledComponent, Wanted};
use super::run::Ended;
use super::settings::TriggerSettings;
use super::trigger_type::{AppValues, Trigger};
use crate::host::bindings::cron::SpinCronPre;
use crate::host::bindings::cron::fermyon::spin_cron::cron_types::{Error as CronError, Metadata};
use crate::host::bindings::cron_current::SpinCronPre as CurrentCronPre;
use crate::host::bindings::cron_current::fermyon::spin_cron::cron_types::{
    Error as CurrentError, Metadata as CurrentMetadata,
};
use crate::host::state::RequestState;
use crate::telemetry::text;
use crate::{PreparedApp, RuntimeError};
use opentelemetry::trace::SpanKind;

/// The pre-instantiated `handle-cron-event` of a component.
pub enum CronHandler {
    /// A plain export (the original cron trigger plugin).
    Sync(SpinCronPre<RequestState>),
    /// A WASIp3 `async` export (Spin's current cron trigger plugin).
    Current(CurrentCronPre<RequestState>),
}

/// The app's cron triggers.
#[derive(Debug)]
pub struct CronTrigger {
    pub schedules: Vec<CronSchedule>,
}

/// One `[[trigger.cron]]` entry.
#[derive(Debug)]
pub struct CronSchedule {
    pub component: String,
    /// The expression as written, for logs.
    pub expression: String,
    cron: Cron,
}

const WANTED: Wanted = Wanted {
    component: "a cron component",
    trigger: "cron",
    exports: "`handle-cron-event` (fermyon:spin-cron@2.0.0)",
};

impl Trigger for CronTrigger {
    const TYPE: &'static str = "cron";
    type Handler = CronHandler;
    type Error = Infallible;

    fn read(app: &LockedApp, _: &AppValues) -> Result<Option<Self>, RuntimeError> {
        let parser = CronParser::builder().seconds(Seconds::Optional).build();
        let mut schedules = Vec::new();
        for trigger in app.triggers.iter().filter(|t| t.trigger_type == Self::TYPE) {
            let settings = TriggerSettings::read(app, trigger, "cron", &["cron_expression"])?;
            let problem = |p: String| settings.problem(p);
            let component = settings.component;
            let expression = settings.text("cron_expression")?.ok_or_else(|| {
                problem(
                    "has no `cron_expression`; add one, like cron_expression = \"0 */5 * * * *\""
                        .into(),
                )
            })?;
            let cron = parser.parse(expression).map_err(|e| {
                problem(format!(
                    "`cron_expression` {expression:?} is not a cron expression: {e} \
                     (six fields, seconds first: \"0 */5 * * * *\")"
                ))
            })?;
            schedules.push(CronSchedule {
                component: component.to_string(),
                expression: expression.to_string(),
                cron,
            });
        }
        Ok((!schedules.is_empty()).then_some(Self { schedules }))
    }

    fn runs(&self, id: &str) -> bool {
        self.schedules.iter().any(|s| s.component == id)
    }

    fn describe(&self) -> Vec<String> {
        let lines = self
            .schedules
            .iter()
            .map(|s| format!("  {}: {}", s.expression, s.component));
        std::iter::once("Scheduled (UTC):".to_string())
            .chain(lines)
            .collect()
    }

    /// `handle-cron-event`, plain or `async`.
    fn handler(component: &CompiledComponent<'_>) -> Result<CronHandler, RuntimeError> {
        let is_async = match component.export("handle-cron-event") {
            Some(ComponentItem::ComponentFunc(func)) => func.async_(),
            _ => return Err(component.lacks(&WANTED, &component.exports())),
        };
        let pre = component.instantiate_pre()?;
        if is_async {
            CurrentCronPre::new(pre).map(CronHandler::Current)
        } else {
            SpinCronPre::new(pre).map(CronHandler::Sync)
        }
        .map_err(|e| component.link_error(e))
    }

    /// Fires every schedule until the app stops.
    async fn run(self: Arc<Self>, app: Arc<PreparedApp>) -> Result<Ended, Infallible> {
        let mut schedules = tokio::task::JoinSet::new();
        for index in 0..self.schedules.len() {
            schedules.spawn(fire(app.clone(), self.clone(), index));
        }
        while schedules.join_next().await.is_some() {}
        std::future::pending().await
    }
}

async fn fire(app: Arc<PreparedApp>, cron: Arc<CronTrigger>, index: usize) {
    let schedule = &cron.schedules[index];
    loop {
        let now = DateTime::<Utc>::from(std::time::SystemTime::now());
        let next = match schedule.cron.find_next_occurrence(&now, false) {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(component = %schedule.component, expression = %schedule.expression, "no next time for the schedule: {e}; it stops");
                return;
            }
        };
        let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        let timestamp = next.timestamp().max(0) as u64;
        let id = schedule.component.clone();
        deliver(&app, &schedule.component, move |app| {
            let id = id.clone();
            async move { handle(&app, &id, timestamp).await }
        })
        .await;
    }
}

/// Runs the schedule's component once.
async fn handle(app: &PreparedApp, id: &str, timestamp: u64) -> Handled {
    let event = app.telemetry.event_span(
        || format!("cron {id}"),
        SpanKind::Internal,
        || vec![text("spin.component_id", id)],
    );
    run_event::<CronTrigger>(
        app,
        id,
        "a cron event",
        event,
        async |pre, store| match pre {
            CronHandler::Sync(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                let handled = instance
                    .call_handle_cron_event(&mut *store, Metadata { timestamp })
                    .await?;
                Ok(handled.err().map(|CronError::Other(message)| message))
            }
            CronHandler::Current(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                let metadata = CurrentMetadata { timestamp };
                let handled = store
                    .run_concurrent(async |accessor| {
                        instance.call_handle_cron_event(accessor, metadata).await
                    })
                    .await??;
                Ok(handled.err().map(|CurrentError::Other(message)| message))
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(configs: &[serde_json::Value]) -> LockedApp {
        let triggers: Vec<_> = configs
            .iter()
            .enumerate()
            .map(|(i, c)| serde_json::json!({ "id": format!("t{i}"), "trigger_type": "cron", "trigger_config": c }))
            .collect();
        serde_json::from_value(serde_json::json!({
            "spin_lock_version": 1,
            "triggers": triggers,
            "components": [
                { "id": "tick", "source": { "content_type": "application/wasm", "content": {} } }
            ]
        }))
        .unwrap()
    }

    fn cron_schedules(app: &LockedApp) -> Result<Vec<CronSchedule>, RuntimeError> {
        Ok(CronTrigger::read(app, &AppValues::new())?.map_or_else(Vec::new, |c| c.schedules))
    }

    #[test]
    fn expressions_with_and_without_seconds() {
        let schedules = cron_schedules(&app(&[
            serde_json::json!({ "component": "tick", "cron_expression": "*/2 * * * * *" }),
            serde_json::json!({ "component": "tick", "cron_expression": "0 9 * * MON" }),
            serde_json::json!({ "component": "tick", "cron_expression": "@hourly" }),
        ]))
        .unwrap();
        assert_eq!(schedules.len(), 3);
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:01Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = |i: usize| {
            schedules[i]
                .cron
                .find_next_occurrence(&start, false)
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(next(0), "2026-11-27T10:00:02+00:00");
        assert_eq!(next(1), "2026-11-30T09:00:00+00:00");
        assert_eq!(next(2), "2026-11-27T11:00:00+00:00");
    }

    #[test]
    fn bad_settings_name_the_trigger_and_the_fix() {
        for (config, expected) in [
            (
                serde_json::json!({ "component": "tick", "cron_expression": "every minute" }),
                "is not a cron expression",
            ),
            (
                serde_json::json!({ "component": "tick" }),
                "has no `cron_expression`",
            ),
            (
                serde_json::json!({ "component": "nope", "cron_expression": "* * * * *" }),
                "component `nope`",
            ),
            (
                serde_json::json!({ "component": "tick", "cron_expression": "* * * * *", "tz": "UTC" }),
                "unknown cron trigger setting `tz`",
            ),
        ] {
            let err = cron_schedules(&app(&[config])).unwrap_err().to_string();
            assert!(err.starts_with("trigger `t0`: "), "{err}");
            assert!(err.contains(expected), "{err}");
        }
    }
}
