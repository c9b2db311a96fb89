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

use std::sync::Arc;

use spin_app::LockedApp;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::CommandPre;

use super::handler::{Failure, new_store};
use super::settings::TriggerSettings;
use crate::host::state::ComponentHost;
use crate::host::state::RequestState;
use crate::trigger::handler::{exports, instantiate_pre, link_error, listing};
use crate::{PreparedApp, RuntimeError};

/// The pre-instantiated `wasi:cli/run` of a command component.
pub type CommandHandler = CommandPre<RequestState>;

/// The component the app's command trigger runs, if it has one.
pub fn command_component(app: &LockedApp) -> Result<Option<String>, RuntimeError> {
    let mut found = None;
    for trigger in app.triggers.iter().filter(|t| t.trigger_type == "command") {
        let settings = TriggerSettings::read(app, trigger, "command", &[])?;
        let component = settings.component;
        if found.is_some() {
            return Err(settings.problem(
                "a second command trigger: an app runs one command; make another app for it",
            ));
        }
        found = Some(component.to_string());
    }
    Ok(found)
}

/// Runs the app's command once; its exit status.
pub async fn run(app: &PreparedApp, id: &str) -> i32 {
    let code = app.code();
    let Some((host, pre)) = code
        .components
        .get(id)
        .and_then(|c| Some((&c.host, c.command.as_ref()?)))
    else {
        return 1;
    };
    let mut store = match new_store(code.engine.engine(), host) {
        Ok(store) => store,
        Err(e) => {
            Failure::Trap(format!("cannot set up the instance: {e}")).log(id);
            return 1;
        }
    };
    let ran = async {
        let command = pre.instantiate_async(&mut store).await?;
        command.wasi_cli_run().call_run(&mut store).await
    }
    .await;
    let status = match ran {
        Ok(Ok(())) => 0,
        Ok(Err(())) => 1,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => {
                Failure::classify(e, store.data()).log(id);
                1
            }
        },
    };
    tracing::info!(component = id, status, "command finished");
    status
}

/// Pre-instantiates a command component's `wasi:cli/run@0.2.x`.
pub fn detect_command(
    engine: &wasmtime::Engine,
    linker: &Linker<RequestState>,
    host: &Arc<ComponentHost>,
    component: &Component,
) -> Result<CommandHandler, RuntimeError> {
    let id = &host.id;
    let exports = exports(engine, component);
    if !exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")) {
        return Err(RuntimeError::NotCommand {
            component: id.to_string(),
            exports: listing(&exports),
        });
    }
    let pre = instantiate_pre(engine, linker, id, component)?;
    CommandHandler::new(pre).map_err(|e| link_error(id, e))
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
