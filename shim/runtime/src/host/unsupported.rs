//! Imports this runtime does not implement (`fermyon:spin/llm`, ...).
//!
//! SDKs import every Spin interface whether or not the app uses it, so refusing such
//! components would refuse nearly all of them. Instead each missing function is linked
//! to one that fails the request with a message naming the interface, and the app runs
//! as long as it does not call them.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, LinkerInstance, ResourceType};

/// Interfaces the base linker provides: by name, any version (`wasi:http/types`); by
/// name and exact version (`fermyon:spin/postgres@2.0.0`: the unversioned Spin 1
/// interfaces of the same names are others, left to the stubs); or a whole package
/// (`wasi:io/`).
const PROVIDED: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
    "wasi:http/client",
    "wasi:config/store",
    "fermyon:spin/key-value@2.0.0",
    "fermyon:spin/variables@2.0.0",
    "fermyon:spin/http",
    "fermyon:spin/http-types",
    "spin:key-value/key-value",
    "spin:variables/variables",
    "fermyon:spin/sqlite@2.0.0",
    "spin:sqlite/sqlite",
    "fermyon:spin/redis@2.0.0",
    "spin:redis/redis",
    "fermyon:spin/mqtt@2.0.0",
    "spin:mqtt/mqtt",
    "fermyon:spin/postgres@2.0.0",
    "fermyon:spin/rdbms-types@2.0.0",
    "spin:postgres/postgres",
    "fermyon:spin/mysql@2.0.0",
    "spin:mysql/mysql",
    "wasi:keyvalue/",
    "wasi:otel/types@0.2.0-rc.2",
    "wasi:otel/tracing@0.2.0-rc.2",
    "wasi:otel/metrics@0.2.0-rc.2",
    "wasi:otel/logs@0.2.0-rc.2",
];

/// Placeholder type of resources in unsupported interfaces.
struct Unsupported;

fn provided(import: &str) -> bool {
    // A release candidate is never linked by name (see `prerelease`).
    if crate::code::prerelease::release_of(import).is_some() {
        return false;
    }
    let unversioned = import.split('@').next().unwrap_or(import);
    PROVIDED.iter().any(|p| {
        if p.ends_with('/') {
            unversioned.starts_with(p)
        } else if p.contains('@') {
            import == *p
        } else {
            unversioned == *p
        }
    })
}

/// Links every import of `component` that `PROVIDED` does not cover.
pub fn stub_unsupported_imports<T: 'static>(
    engine: &wasmtime::Engine,
    linker: &mut Linker<T>,
    component_id: &str,
    component: &Component,
) -> wasmtime::Result<()> {
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        if provided(name) {
            continue;
        }
        stub(
            engine,
            &mut linker.root(),
            component_id,
            name,
            &item.ty,
            name,
        )?;
    }
    Ok(())
}

fn stub<T: 'static>(
    engine: &wasmtime::Engine,
    linker: &mut LinkerInstance<'_, T>,
    component_id: &str,
    name: &str,
    item: &ComponentItem,
    interface: &str,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentFunc(func) => {
            let what = if name == interface {
                name.to_string()
            } else {
                format!("{interface}#{name}")
            };
            let message = format!(
                "component `{component_id}` called `{what}`, which this runtime does not provide"
            );
            // WIT `async func`s (WASIp3 and Spin 4 interfaces) need a concurrent host
            // function; the others a plain one.
            if func.async_() {
                linker.func_new_concurrent(name, move |_, _, _, _| {
                    let message = message.clone();
                    Box::pin(async move { wasmtime::bail!("{message}") })
                })?;
            } else {
                linker.func_new(name, move |_, _, _, _| wasmtime::bail!("{message}"))?;
            }
        }
        ComponentItem::ComponentInstance(instance) => {
            let mut inner = linker.instance(name)?;
            for (export, ext) in instance.exports(engine) {
                stub(engine, &mut inner, component_id, export, &ext.ty, name)?;
            }
        }
        ComponentItem::Resource(_) => {
            linker.resource(name, ResourceType::host::<Unsupported>(), |_, _| Ok(()))?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::provided;

    #[test]
    fn provided_interfaces_match_any_version() {
        assert!(provided("wasi:http/types@0.2.0"));
        assert!(provided("wasi:io/streams@0.2.6"));
        assert!(provided("fermyon:spin/key-value@2.0.0"));
        assert!(provided("fermyon:spin/http"));
        assert!(provided("fermyon:spin/redis@2.0.0"));
        assert!(provided("fermyon:spin/mqtt@2.0.0"));
        assert!(!provided("fermyon:spin/llm@2.0.0"));
        assert!(provided("wasi:keyvalue/store@0.2.0-draft2"));
        assert!(provided("spin:key-value/key-value@3.0.0"));
        assert!(provided("spin:sqlite/sqlite@3.1.0"));
        assert!(provided("spin:mysql/mysql@3.0.0"));
        assert!(provided("fermyon:spin/postgres@2.0.0"));
        assert!(provided("spin:postgres/postgres@4.0.0"));
        // Spin 1's unversioned interfaces of the same names are not these.
        assert!(!provided("fermyon:spin/postgres"));
        assert!(!provided("fermyon:spin/key-value"));
        assert!(!provided("spin:llm/llm@3.0.0"));
        assert!(!provided("wasi:http/incoming-handler@0.2.0"));
        assert!(provided("wasi:http/client@0.3.0"));
        assert!(!provided("wasi:http/client@0.3.0-rc-2026-03-15"));
        // wasi:otel only at the version it is linked at; another gets the stand-ins.
        assert!(provided("wasi:otel/tracing@0.2.0-rc.2"));
        assert!(provided("wasi:otel/types@0.2.0-rc.2"));
        assert!(!provided("wasi:otel/tracing@0.2.0-rc.1"));
    }
}
