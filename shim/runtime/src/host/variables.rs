//! Variables: `fermyon:spin/variables@2.0.0` and `wasi:config/store`.
//!
//! A component sees its own `variables` table from spin.toml, each value a template
//! over application variables. Application variables take, in order: a value given to
//! the runtime (`SPIN_VARIABLE_<NAME>`), then the manifest `default`. They are
//! resolved once at start-up; a required variable without a value stops start-up.

use std::collections::BTreeMap;

use spin_app::LockedApp;
use spin_app::ids::is_lower_snake_id;
use spin_app::locked::LockedComponent;
use spin_app::template::Template;

use crate::RuntimeError;
use crate::host::bindings::current::spin::variables::variables as v3;
use crate::host::bindings::spin::fermyon::spin2_0_0::variables::{self, Error};
use crate::host::bindings::spin::wasi::config::store;
use wasmtime::component::{Accessor, HasData, Linker};

/// What the variables interfaces read: one component's rendered variables.
pub struct VariablesView<'a> {
    pub component: &'a str,
    pub values: &'a BTreeMap<String, String>,
}

/// Variables: `fermyon:spin/variables@2.0.0`, `spin:variables@3.0.0` and
/// `wasi:config/store`. No handles: linked to a view of the component's values alone.
pub struct Variables;

impl HasData for Variables {
    type Data<'a> = VariablesView<'a>;
}

impl Variables {
    pub fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> VariablesView<'_>,
    ) -> wasmtime::Result<()> {
        variables::add_to_linker::<T, Self>(linker, view)?;
        v3::add_to_linker::<T, Self>(linker, view)?;
        store::add_to_linker::<T, Self>(linker, view)
    }
}

/// Application variable values after applying the runtime's overrides.
pub fn resolve_app_variables(
    app: &LockedApp,
    provided: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, RuntimeError> {
    let mut values = BTreeMap::new();
    for (name, var) in &app.variables {
        let value = provided.get(name).or(var.default.as_ref()).ok_or_else(|| {
            RuntimeError::Variable {
                name: name.clone(),
                problem: format!(
                    "is required and has no value; set the environment variable SPIN_VARIABLE_{}",
                    name.to_ascii_uppercase()
                ),
            }
        })?;
        values.insert(name.clone(), value.clone());
    }
    Ok(values)
}

/// One component's variables, rendered from its templates.
pub fn component_variables(
    component: &LockedComponent,
    app_values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, RuntimeError> {
    component
        .config
        .iter()
        .map(|(name, text)| {
            let problem = |p: String| RuntimeError::Variable {
                name: format!("{}.{name}", component.id),
                problem: p,
            };
            let value = Template::parse(text)
                .and_then(|template| template.render(app_values))
                .map_err(|e| problem(e.to_string()))?;
            Ok((name.clone(), value))
        })
        .collect()
}

impl variables::Host for VariablesView<'_> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.lookup(&name))
    }
}

/// `spin:variables@3.0.0`: the same variables, for current SDKs.
impl v3::Host for VariablesView<'_> {}

impl<T> v3::HostWithStore<T> for Variables {
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, v3::Error>> {
        let found = accessor.with(|mut access| access.get().lookup(&name));
        Ok(found.map_err(|e| match e {
            Error::InvalidName(m) => v3::Error::InvalidName(m),
            Error::Undefined(m) => v3::Error::Undefined(m),
            Error::Provider(m) => v3::Error::Provider(m),
            Error::Other(m) => v3::Error::Other(m),
        }))
    }
}

impl VariablesView<'_> {
    /// A variable by name, or why there is none.
    fn lookup(&self, name: &str) -> Result<String, Error> {
        if !is_lower_snake_id(name) {
            return Err(Error::InvalidName(format!(
                "{name:?} is not a variable name (lower_snake_case)"
            )));
        }
        self.values.get(name).cloned().ok_or_else(|| {
            Error::Undefined(format!(
                "component {} has no variable {name:?}; add it to [component.{}] variables",
                self.component, self.component
            ))
        })
    }
}

impl store::Host for VariablesView<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, store::Error>> {
        Ok(Ok(self.values.get(&key).cloned()))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, store::Error>> {
        Ok(Ok(self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> LockedApp {
        LockedApp::from_json(
            br#"{"spin_lock_version": 1,
                "variables": {"greeting": {"default": "hello"}, "api_key": {"secret": true}},
                "triggers": [],
                "components": [{"id": "c", "source": {"content_type": "application/wasm", "inline": ""},
                                "config": {"message": "{{ greeting }}, {{api_key}}"}}]}"#,
            std::path::Path::new("t.json"),
        )
        .unwrap()
    }

    #[test]
    fn provided_values_override_defaults() {
        let provided = BTreeMap::from([("api_key".to_string(), "k1".to_string())]);
        let values = resolve_app_variables(&app(), &provided).unwrap();
        let vars = component_variables(&app().components[0], &values).unwrap();
        assert_eq!(vars["message"], "hello, k1");
    }

    #[test]
    fn missing_required_variable_says_how_to_set_it() {
        let err = resolve_app_variables(&app(), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("api_key") && err.contains("SPIN_VARIABLE_API_KEY"),
            "{err}"
        );
    }
}
