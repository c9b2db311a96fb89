//! Keeping a dependency away from the configuration it does not inherit.
//!
//! The dependency's imports of interfaces governed by a configuration key it does not
//! inherit ([`spin_app::inherit`]) are satisfied by a stand-in component made here from
//! the dependency's own import types, so they never reach the host and the dependency
//! shares nothing of its parent's stores, databases, variables or network grants.
//!
//! The stand-in answers the environment and preopened-directory queries with nothing
//! (an empty list, no working directory), so a dependency built on a language runtime
//! still starts; every other call traps, which fails the request with a 500 and a log
//! line naming the trap. (Spin's stand-in returns an error value instead where the
//! interface has one; a guest that handles the error differs only in its message.)

use spin_app::locked::InheritConfiguration;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::{LiftLowerAbi, ManglingAndAbi, Resolve, WorldItem, WorldKey};

use crate::{ComposeError, export_all, graph_err, register};

/// Interfaces whose functions the stand-in answers with an empty result rather than a
/// trap (all of them return a list or an option).
const ANSWERED_EMPTY: &[&str] = &["wasi:cli/environment", "wasi:filesystem/preopens"];

/// Where the stand-in's empty results lie in its memory (zeroed: an empty list, `none`).
const EMPTY_RESULT_ADDRESS: i32 = 16;

/// `wasm` with the imports it may not use (by `inherit`) satisfied by a stand-in; the
/// same bytes when there are none. `what` names the dependency in errors.
pub fn isolate(
    wasm: Vec<u8>,
    inherit: &InheritConfiguration,
    what: &str,
) -> Result<Vec<u8>, ComposeError> {
    if *inherit == InheritConfiguration::All {
        return Ok(wasm);
    }
    let err = |detail: String| ComposeError::Isolation {
        what: what.to_string(),
        detail,
    };
    let (mut resolve, world) = match wit_component::decode(&wasm) {
        Ok(wit_component::DecodedWasm::Component(resolve, world)) => (resolve, world),
        Ok(_) => return Err(err("it is a WIT package, not a component".into())),
        Err(e) => {
            return Err(ComposeError::Invalid {
                what: what.to_string(),
                detail: format!("{e:#}"),
            });
        }
    };
    let denied: Vec<String> = resolve.worlds[world]
        .imports
        .iter()
        .filter_map(|(key, item)| match (key, item) {
            (WorldKey::Interface(id), WorldItem::Interface { .. }) => resolve.id_of(*id),
            _ => None,
        })
        .filter(|name| inherit.denies(name))
        .collect();
    if denied.is_empty() {
        return Ok(wasm);
    }
    let stand_in = stand_in(&mut resolve, &denied).map_err(err)?;

    let mut graph = wac_graph::CompositionGraph::new();
    let dependency = register(&mut graph, "dependency", what, wasm)?;
    let stand_in = register(&mut graph, "stand-in", "the isolation stand-in", stand_in)?;
    let dependency_instance = graph.instantiate(dependency);
    let stand_in_instance = graph.instantiate(stand_in);
    for name in &denied {
        let export = graph
            .alias_instance_export(stand_in_instance, name)
            .map_err(graph_err)?;
        graph
            .set_instantiation_argument(dependency_instance, name, export)
            .map_err(|e| err(format!("{name}: {e:#}")))?;
    }
    export_all(&mut graph, dependency, dependency_instance)?;
    graph.encode(Default::default()).map_err(graph_err)
}

/// A component exporting the interfaces `denied` (as the dependency imports them).
fn stand_in(resolve: &mut Resolve, denied: &[String]) -> Result<Vec<u8>, String> {
    let exports: String = denied
        .iter()
        .map(|name| format!("  export {name};\n"))
        .collect();
    let package = resolve
        .push_str(
            "stand-in.wit",
            &format!("package spin-kube:isolation;\n\nworld stand-in {{\n{exports}}}\n"),
        )
        .map_err(|e| format!("{e:#}"))?;
    let world = resolve
        .select_world(&[package], Some("stand-in"))
        .map_err(|e| format!("{e:#}"))?;
    let mangling = ManglingAndAbi::Legacy(LiftLowerAbi::Sync);
    let module = wit_component::dummy_module(resolve, world, mangling);
    let answered: Vec<String> = resolve.worlds[world]
        .exports
        .iter()
        .filter_map(|(key, item)| match (key, item) {
            (WorldKey::Interface(id), WorldItem::Interface { .. }) => resolve.id_of(*id),
            _ => None,
        })
        .filter(|name| {
            ANSWERED_EMPTY
                .iter()
                .any(|a| name.split('@').next() == Some(*a))
        })
        .collect();
    let mut module = answer_empty(&module, &answered)?;
    embed_component_metadata(&mut module, resolve, world, StringEncoding::UTF8)
        .map_err(|e| format!("{e:#}"))?;
    ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| format!("{e:#}"))
}

/// The stand-in module with one page of (zeroed) memory, and the functions of the
/// `answered` interfaces that return through a pointer returning one to zeroes.
fn answer_empty(module: &[u8], answered: &[String]) -> Result<Vec<u8>, String> {
    let mut imported_functions = 0u32;
    let mut targets = std::collections::HashSet::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        match payload.map_err(|e| e.to_string())? {
            wasmparser::Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if matches!(
                        import.map_err(|e| e.to_string())?.ty,
                        wasmparser::TypeRef::Func(_)
                    ) {
                        imported_functions += 1;
                    }
                }
            }
            wasmparser::Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export.map_err(|e| e.to_string())?;
                    let interface = export.name.split('#').next().unwrap_or("");
                    if export.kind == wasmparser::ExternalKind::Func
                        && export.name.contains('#')
                        && answered.iter().any(|a| a == interface)
                    {
                        targets.insert(export.index);
                    }
                }
            }
            _ => {}
        }
    }
    let mut patcher = EmptyAnswers {
        targets,
        next_function: imported_functions,
    };
    let mut out = wasm_encoder::Module::new();
    patcher
        .parse_core_module(&mut out, wasmparser::Parser::new(0), module)
        .map_err(|e| format!("{e:?}"))?;
    Ok(out.finish())
}

/// Rewrites the bodies of `targets` (`() -> i32` functions returning through a pointer)
/// to return [`EMPTY_RESULT_ADDRESS`], and gives the module a page of memory.
struct EmptyAnswers {
    targets: std::collections::HashSet<u32>,
    next_function: u32,
}

impl Reencode for EmptyAnswers {
    type Error = std::convert::Infallible;

    fn memory_type(
        &mut self,
        memory: wasmparser::MemoryType,
    ) -> Result<wasm_encoder::MemoryType, wasm_encoder::reencode::Error<Self::Error>> {
        let mut memory = RoundtripReencoder.memory_type(memory)?;
        memory.minimum = memory.minimum.max(1);
        Ok(memory)
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        let index = self.next_function;
        self.next_function += 1;
        if !self.targets.contains(&index) {
            return wasm_encoder::reencode::utils::parse_function_body(self, code, func);
        }
        let mut body = wasm_encoder::Function::new([]);
        body.instructions().i32_const(EMPTY_RESULT_ADDRESS).end();
        code.function(&body);
        Ok(())
    }
}
