//! Finding a trigger's entry point in a compiled component: what the component exports,
//! its imports linked once (those the runtime does not provide stubbed), and the error
//! naming the component and its exports when it lacks what the trigger calls.

use std::sync::Arc;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre, Linker};

use crate::RuntimeError;
use crate::config::RuntimeConfig;
use crate::host::state::{ComponentHost, RequestState};
use crate::host::unsupported::stub_unsupported_imports;

/// What a trigger calls, named in the error for a component that does not export it.
#[derive(Debug)]
pub struct Wanted {
    /// What such a component is called: "an HTTP component".
    pub component: &'static str,
    /// The trigger, as messages name it: "HTTP".
    pub trigger: &'static str,
    /// The exports it calls, newest first, with the SDKs that make them.
    pub exports: &'static str,
}

/// One compiled component, as a trigger looks for its entry point in it.
pub struct CompiledComponent<'a> {
    pub engine: &'a wasmtime::Engine,
    pub linker: &'a Linker<RequestState>,
    pub host: &'a Arc<ComponentHost>,
    pub component: &'a Component,
    pub config: &'a RuntimeConfig,
}

impl CompiledComponent<'_> {
    pub fn id(&self) -> &str {
        &self.host.id
    }

    /// The names of its exports.
    pub fn exports(&self) -> Vec<String> {
        self.component
            .component_type()
            .exports(self.engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// The type of export `name`, if it has one.
    pub fn export(&self, name: &str) -> Option<ComponentItem> {
        self.component
            .component_type()
            .get_export(self.engine, name)
            .map(|export| export.ty)
    }

    /// Links its imports (stubbing those the runtime does not provide) once.
    pub fn instantiate_pre(&self) -> Result<InstancePre<RequestState>, RuntimeError> {
        let mut linker = self.linker.clone();
        stub_unsupported_imports(self.engine, &mut linker, self.id(), self.component)
            .map_err(|e| self.link_error(e))?;
        linker
            .instantiate_pre(self.component)
            .map_err(|e| self.link_error(e))
    }

    /// Its imports do not fit the entry point's bindings.
    pub fn link_error(&self, e: wasmtime::Error) -> RuntimeError {
        RuntimeError::Link {
            component: self.id().to_string(),
            detail: format!("{e:#}"),
        }
    }

    /// It exports none of what the trigger calls.
    pub fn lacks(&self, wanted: &'static Wanted, exports: &[String]) -> RuntimeError {
        let exports = if exports.is_empty() {
            "nothing".into()
        } else {
            exports
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        RuntimeError::NoEntryPoint {
            component: self.id().to_string(),
            wanted,
            exports,
        }
    }
}
