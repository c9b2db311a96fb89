//! The command trigger (`[[trigger.command]]`, as Spin's command trigger plugin
//! defines it: `component` only): runs the component's `wasi:cli/run` once, in a
//! fresh instance with the usual memory cap, when the app starts; the app then exits
//! with the command's status, so a Kubernetes Job (or a pod with
//! `restartPolicy: Never`) runs a Spin command app to completion. `run` returning
//! `ok` is status 0, `err` is 1, `wasi:cli/exit` gives its own status, and a trap or
//! an exhausted memory cap is 1 with the reason logged. No request timeout applies (a
//! Job's `activeDeadlineSeconds` bounds it). The guest gets no arguments and no
//! stdin. One command trigger per app (Spin runs only the first; a second is refused
//! here so none is silently skipped).

use std::convert::Infallible;
use std::sync::Arc;

use spin_app::LockedApp;
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::CommandPre;

use super::entry_point::{CompiledComponent, Wanted};
use super::handler::{Failure, new_store};
use super::run::Ended;
use super::settings::TriggerSettings;
use super::trigger_type::{AppValues, Trigger};
use crate::host::state::RequestState;
use crate::telemetry::{component_span, text};
use crate::{PreparedApp, RuntimeError};
use opentelemetry::trace::SpanKind;

/// The pre-instantiated `wasi:cli/run` of a command component.
pub type CommandHandler = CommandPre<RequestState>;

/// The app's command trigger: the component it runs.
#[derive(Debug)]
pub struct CommandTrigger {
    pub component: String,
}

const WANTED: Wanted = Wanted {
    component: "a command",
    trigger: "command",
    exports: "`wasi:cli/run@0.2.x` (WASIp3 commands are not run yet)",
};

impl Trigger for CommandTrigger {
    const TYPE: &'static str = "command";
    type Handler = CommandHandler;
    type Error = Infallible;

    fn read(app: &LockedApp, _: &AppValues) -> Result<Option<Self>, RuntimeError> {
        let mut found: Option<Self> = None;
        for trigger in app.triggers.iter().filter(|t| t.trigger_type == Self::TYPE) {
            let settings = TriggerSettings::read(app, trigger, "command", &[])?;
            if found.is_some() {
                return Err(settings.problem(
                    "a second command trigger: an app runs one command; make another app for it",
                ));
            }
            found = Some(Self {
                component: settings.component.to_string(),
            });
        }
        Ok(found)
    }

    fn runs(&self, id: &str) -> bool {
        self.component == id
    }

    fn describe(&self) -> Vec<String> {
        vec![format!("Running command {}", self.component)]
    }

    /// `wasi:cli/run@0.2.x`.
    fn handler(component: &CompiledComponent<'_>) -> Result<CommandHandler, RuntimeError> {
        let exports = component.exports();
        if !exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")) {
            return Err(component.lacks(&WANTED, &exports));
        }
        CommandHandler::new(component.instantiate_pre()?).map_err(|e| component.link_error(e))
    }

    async fn run(self: Arc<Self>, app: Arc<PreparedApp>) -> Result<Ended, Infallible> {
        Ok(Ended::Exited(run(&app, &self.component).await))
    }
}

/// Runs the app's command once; its exit status.
async fn run(app: &PreparedApp, id: &str) -> i32 {
    let code = app.code();
    let Some((host, pre)) = code
        .components
        .get(id)
        .and_then(|c| Some((&c.host, c.handler::<CommandTrigger>()?)))
    else {
        return 1;
    };
    let mut event = app.telemetry.event_span(
        || format!("command {id}"),
        SpanKind::Internal,
        || vec![text("spin.component_id", id)],
    );
    let run_span = component_span(&event, id);
    let mut store = match new_store(code.engine.engine(), host, run_span.parent()) {
        Ok(store) => store,
        Err(e) => {
            Failure::Trap(format!("cannot set up the instance: {e}")).log(id);
            return 1;
        }
    };
    let started = std::time::Instant::now();
    let ran = async {
        let command = pre.instantiate_async(&mut store).await?;
        command.wasi_cli_run().call_run(&mut store).await
    }
    .await;
    drop(run_span);
    let status = match ran {
        Ok(Ok(())) => 0,
        Ok(Err(())) => 1,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => {
                let failure = Failure::classify(e, store.data());
                failure.log(id);
                event.fail(failure.to_string());
                1
            }
        },
    };
    event.set(opentelemetry::KeyValue::new(
        "process.exit.code",
        i64::from(status),
    ));
    app.telemetry
        .record_request(CommandTrigger::TYPE, id, started.elapsed(), None);
    tracing::info!(component = id, status, "command finished");
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(triggers: serde_json::Value) -> LockedApp {
        serde_json::from_value(serde_json::json!({
            "spin_lock_version": 1,
            "triggers": triggers,
            "components": [
                { "id": "job", "source": { "content_type": "application/wasm", "content": {} } }
            ]
        }))
        .unwrap()
    }

    fn command_component(app: &LockedApp) -> Result<Option<String>, RuntimeError> {
        Ok(CommandTrigger::read(app, &AppValues::new())?.map(|c| c.component))
    }

    #[test]
    fn finds_the_one_command_and_refuses_more() {
        let one = app(serde_json::json!([
            { "id": "c", "trigger_type": "command", "trigger_config": { "component": "job" } }
        ]));
        assert_eq!(command_component(&one).unwrap().as_deref(), Some("job"));
        assert_eq!(
            command_component(&app(serde_json::json!([]))).unwrap(),
            None
        );

        for (triggers, expected) in [
            (
                serde_json::json!([
                    { "id": "c", "trigger_type": "command", "trigger_config": { "component": "job" } },
                    { "id": "d", "trigger_type": "command", "trigger_config": { "component": "job" } }
                ]),
                "trigger `d`: a second command trigger",
            ),
            (
                serde_json::json!([{ "id": "c", "trigger_type": "command", "trigger_config": { "component": "nope" } }]),
                "component `nope`",
            ),
            (
                serde_json::json!([{ "id": "c", "trigger_type": "command", "trigger_config": { "component": "job", "args": [] } }]),
                "unknown command trigger setting `args`",
            ),
        ] {
            let err = command_component(&app(triggers)).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
