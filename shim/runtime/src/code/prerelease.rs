//! WASI release-candidate imports served by the release implementation.
//!
//! Current SDKs (Python spin-sdk 5 with componentize-py 0.25) import each WASIp3
//! interface twice: once at its release version (`wasi:http/types@0.3.0`) and once at
//! a release candidate (`wasi:http/types@0.3.0-rc-2026-03-15`). Wasmtime implements the
//! release only, and a linker never matches a prerelease version to anything else.
//!
//! So such a component is wrapped in an outer component that imports exactly what the
//! inner one imports (the same type and import sections, copied), instantiates it, and
//! passes each release instance where the inner component asks for the release
//! candidate. Inside, the candidate's resources *are* the release's resources, so values
//! flow between the two versions freely. Whether a candidate really has the release's
//! shape is checked by component validation: a candidate that differs fails validation,
//! and the caller then serves the component unwrapped, where calls to the candidate fail
//! with the interface's name (see `host::unsupported`). The wrapper's own imports of
//! the candidates are never called; they are linked to those failing stand-ins.
//!
//! A candidate without its release beside it is renamed to the release in the wrapper's
//! imports, so the linker gives it the release implementation directly.
//!
//! Exports are renamed the same way: a Spin 4.0 app (Python spin-sdk 4.0.0,
//! componentize-py 0.23) exports only `wasi:http/handler@0.3.0-rc-2026-03-15`, and the
//! wrapper exports it as `wasi:http/handler@0.3.0`, which the runtime serves; whether
//! the candidate's functions have the release's types is checked when the handler is
//! pre-instantiated, which fails naming the export if they do not.

use std::collections::{BTreeMap, BTreeSet};

use wasm_encoder::{
    Alias, ComponentAliasSection, ComponentExportKind, ComponentExportSection,
    ComponentImportSection, ComponentInstanceSection, ComponentSectionId, RawSection,
};
use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentTypeRef, Parser, Payload, TypeBounds,
};

/// Changes whenever the wrapping changes, so compiled components cached from an older
/// wrapping are not reused.
pub const WRAPPER_VERSION: u32 = 2;

/// The release a WASI release-candidate import name stands for:
/// `wasi:http/types@0.3.0-rc-2026-03-15` → `wasi:http/types@0.3.0`.
pub fn release_of(import: &str) -> Option<&str> {
    let (name, version) = import.split_once('@')?;
    let (release, pre) = version.split_once('-')?;
    if !name.starts_with("wasi:") || !pre.starts_with("rc-") {
        return None;
    }
    Some(&import[..name.len() + 1 + release.len()])
}

/// One top-level import of the inner component.
struct Import {
    name: String,
    kind: ComponentExportKind,
    /// Its index in the index space of its kind.
    index: u32,
}

/// Counts of the index spaces the copied sections define.
#[derive(Default)]
struct Spaces {
    instances: u32,
    funcs: u32,
    types: u32,
    components: u32,
}

/// The wrapped component, or `None` when the component neither imports nor exports a
/// WASI release candidate (or has a shape this wrapper does not handle, e.g. imports after its
/// definitions); it is then used as it is.
pub fn wrap(component: &[u8]) -> Result<Option<Vec<u8>>, wasmparser::BinaryReaderError> {
    let mut depth = 0usize;
    let mut prefix_done = false;
    let mut spaces = Spaces::default();
    let mut imports: Vec<Import> = Vec::new();
    // Sections before the first definition, with renamed imports re-encoded.
    let mut prefix: Vec<Section> = Vec::new();
    let mut exports: Vec<(String, ComponentExportKind)> = Vec::new();
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload?;
        match &payload {
            Payload::Version { .. } => {
                depth += 1;
                continue;
            }
            Payload::End(_) => {
                depth -= 1;
                continue;
            }
            _ if depth != 1 => continue,
            _ => {}
        }
        match payload {
            Payload::ComponentTypeSection(reader) if !prefix_done => {
                spaces.types += reader.count();
                prefix.push(Section::Raw {
                    id: ComponentSectionId::Type,
                    range: reader.range(),
                });
            }
            Payload::ComponentAliasSection(reader) if !prefix_done => {
                let range = reader.range();
                for alias in reader {
                    match alias? {
                        ComponentAlias::InstanceExport { kind, .. } => match kind {
                            ComponentExternalKind::Instance => spaces.instances += 1,
                            ComponentExternalKind::Func => spaces.funcs += 1,
                            ComponentExternalKind::Type => spaces.types += 1,
                            ComponentExternalKind::Component => spaces.components += 1,
                            _ => return Ok(None),
                        },
                        ComponentAlias::Outer { .. }
                        | ComponentAlias::CoreInstanceExport { .. } => {
                            return Ok(None);
                        }
                    }
                }
                prefix.push(Section::Raw {
                    id: ComponentSectionId::Alias,
                    range,
                });
            }
            Payload::ComponentImportSection(reader) if !prefix_done => {
                let mut section = ImportSection::default();
                for import in reader {
                    let import = import?;
                    let plain = import.name.implements.is_none()
                        && import.name.version_suffix.is_none()
                        && import.name.external_id.is_none();
                    let (kind, index, ty) = match import.ty {
                        ComponentTypeRef::Instance(ty) => {
                            spaces.instances += 1;
                            (
                                ComponentExportKind::Instance,
                                spaces.instances - 1,
                                wasm_encoder::ComponentTypeRef::Instance(ty),
                            )
                        }
                        ComponentTypeRef::Func(ty) => {
                            spaces.funcs += 1;
                            (
                                ComponentExportKind::Func,
                                spaces.funcs - 1,
                                wasm_encoder::ComponentTypeRef::Func(ty),
                            )
                        }
                        ComponentTypeRef::Type(TypeBounds::Eq(ty)) => {
                            spaces.types += 1;
                            (
                                ComponentExportKind::Type,
                                spaces.types - 1,
                                wasm_encoder::ComponentTypeRef::Type(wasm_encoder::TypeBounds::Eq(
                                    ty,
                                )),
                            )
                        }
                        ComponentTypeRef::Type(TypeBounds::SubResource) => {
                            spaces.types += 1;
                            (
                                ComponentExportKind::Type,
                                spaces.types - 1,
                                wasm_encoder::ComponentTypeRef::Type(
                                    wasm_encoder::TypeBounds::SubResource,
                                ),
                            )
                        }
                        _ => return Ok(None),
                    };
                    if !plain {
                        return Ok(None);
                    }
                    section.entries.push((import.name.name.to_string(), ty));
                    imports.push(Import {
                        name: import.name.name.to_string(),
                        kind,
                        index,
                    });
                }
                prefix.push(Section::Imports(section));
            }
            Payload::ComponentImportSection(_) => return Ok(None),
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    let kind = match export.kind {
                        ComponentExternalKind::Instance => ComponentExportKind::Instance,
                        ComponentExternalKind::Func => ComponentExportKind::Func,
                        _ => continue,
                    };
                    exports.push((export.name.name.to_string(), kind));
                }
                prefix_done = true;
            }
            Payload::CustomSection(_) => {}
            _ => prefix_done = true,
        }
    }

    let by_name: BTreeMap<&str, &Import> = imports.iter().map(|i| (i.name.as_str(), i)).collect();
    let candidates: Vec<&Import> = imports
        .iter()
        .filter(|i| release_of(&i.name).is_some())
        .collect();
    // Exported candidates without their release beside them are exported as it.
    let exported: BTreeSet<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    let export_renames: BTreeMap<&str, &str> = exports
        .iter()
        .filter_map(|(name, _)| {
            let release = release_of(name)?;
            (!exported.contains(release)).then_some((name.as_str(), release))
        })
        .collect();
    if candidates.is_empty() && export_renames.is_empty() {
        return Ok(None);
    }
    // Candidates without their release import are renamed to it.
    let renames: BTreeMap<&str, &str> = candidates
        .iter()
        .filter_map(|c| {
            let release = release_of(&c.name)?;
            (!by_name.contains_key(release)).then_some((c.name.as_str(), release))
        })
        .collect();

    let mut wrapper = wasm_encoder::Component::new();
    for section in &prefix {
        match section {
            Section::Raw { id, range } => {
                wrapper.section(&RawSection {
                    id: *id as u8,
                    data: &component[range.clone()],
                });
            }
            Section::Imports(imports) => {
                let mut encoded = ComponentImportSection::new();
                for (name, ty) in &imports.entries {
                    let name = renames.get(name.as_str()).copied().unwrap_or(name);
                    encoded.import(name, *ty);
                }
                wrapper.section(&encoded);
            }
        }
    }
    wrapper.section(&RawSection {
        id: ComponentSectionId::Component as u8,
        data: component,
    });
    let args: Vec<(&str, ComponentExportKind, u32)> = imports
        .iter()
        .map(|import| {
            let source = release_of(&import.name)
                .and_then(|release| by_name.get(release))
                .copied()
                .unwrap_or(import);
            (import.name.as_str(), import.kind, source.index)
        })
        .collect();
    let mut instances = ComponentInstanceSection::new();
    instances.instantiate(spaces.components, args);
    wrapper.section(&instances);
    let inner = spaces.instances;

    let mut aliases = ComponentAliasSection::new();
    let mut export_section = ComponentExportSection::new();
    let (mut next_instance, mut next_func) = (inner + 1, spaces.funcs);
    for (name, kind) in &exports {
        aliases.alias(Alias::InstanceExport {
            instance: inner,
            kind: *kind,
            name,
        });
        let index = match kind {
            ComponentExportKind::Instance => {
                next_instance += 1;
                next_instance - 1
            }
            _ => {
                next_func += 1;
                next_func - 1
            }
        };
        let name = export_renames.get(name.as_str()).copied().unwrap_or(name);
        export_section.export(name, *kind, index, None);
    }
    wrapper.section(&aliases);
    wrapper.section(&export_section);
    Ok(Some(wrapper.finish()))
}

/// A section of the copied prefix.
enum Section {
    Raw {
        id: ComponentSectionId,
        range: std::ops::Range<usize>,
    },
    Imports(ImportSection),
}

#[derive(Default)]
struct ImportSection {
    entries: Vec<(String, wasm_encoder::ComponentTypeRef)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::component::{Component, Linker};
    use wasmtime::{Engine, Store};

    /// Imports `wasi:test/x` at its release and a candidate (of `rc_shape`), and
    /// `wasi:test/y` only as a candidate; exports what each candidate's `f` returns.
    fn component(rc_shape: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(component
                (type $x (instance (export "f" (func (result u32)))))
                (type $rc (instance {rc_shape}))
                (import "wasi:test/x@0.3.0" (instance $rel (type $x)))
                (import "wasi:test/x@0.3.0-rc-2026-03-15" (instance $cand (type $rc)))
                (import "wasi:test/y@0.3.0-rc-2026-03-15" (instance $only (type $x)))
                (core module $m
                  (import "host" "f" (func $f (result i32)))
                  (import "host" "g" (func $g (result i32)))
                  (func (export "from-candidate") (result i32) call $f)
                  (func (export "from-lone-candidate") (result i32) call $g))
                (alias export $cand "f" (func $cf))
                (alias export $only "f" (func $of))
                (core func $lf (canon lower (func $cf)))
                (core func $lg (canon lower (func $of)))
                (core instance $host (export "f" (func $lf)) (export "g" (func $lg)))
                (core instance $i (instantiate $m (with "host" (instance $host))))
                (func (export "from-candidate") (result u32)
                  (canon lift (core func $i "from-candidate")))
                (func (export "from-lone-candidate") (result u32)
                  (canon lift (core func $i "from-lone-candidate"))))"#
        ))
        .unwrap()
    }

    /// Calls each export with the release returning 7 (x) and 8 (y), and the
    /// candidates (which must not be reached) 99.
    fn call_exports(engine: &Engine, component: &Component) -> (u32, u32) {
        let mut linker = Linker::<()>::new(engine);
        let answer = |n: u32| move |_: wasmtime::StoreContextMut<'_, ()>, (): ()| Ok((n,));
        linker
            .instance("wasi:test/x@0.3.0")
            .unwrap()
            .func_wrap("f", answer(7))
            .unwrap();
        linker
            .instance("wasi:test/y@0.3.0")
            .unwrap()
            .func_wrap("f", answer(8))
            .unwrap();
        let mut candidate = linker.instance("wasi:test/x@0.3.0-rc-2026-03-15").unwrap();
        candidate.func_wrap("f", answer(99)).unwrap();
        candidate.func_wrap("g", answer(99)).unwrap();
        linker
            .instance("wasi:test/y@0.3.0-rc-2026-03-15")
            .unwrap()
            .func_wrap("f", answer(99))
            .unwrap();
        let mut store = Store::new(engine, ());
        let instance = linker.instantiate(&mut store, component).unwrap();
        let mut call = |name: &str| {
            let f = instance
                .get_typed_func::<(), (u32,)>(&mut store, name)
                .unwrap();
            f.call(&mut store, ()).unwrap().0
        };
        (call("from-candidate"), call("from-lone-candidate"))
    }

    #[test]
    fn candidates_reach_the_release_implementation() {
        let engine = Engine::default();
        let original = component(r#"(export "f" (func (result u32)))"#);
        let plain = Component::new(&engine, &original).unwrap();
        assert_eq!(call_exports(&engine, &plain), (99, 99));
        let wrapped = wrap(&original)
            .unwrap()
            .expect("the component imports candidates");
        let wrapped = Component::new(&engine, &wrapped).unwrap();
        assert_eq!(call_exports(&engine, &wrapped), (7, 8));
    }

    #[test]
    fn a_candidate_of_another_shape_fails_validation() {
        let original =
            component(r#"(export "f" (func (result u32))) (export "g" (func (result u32)))"#);
        let wrapped = wrap(&original).unwrap().unwrap();
        assert!(Component::new(&Engine::default(), &wrapped).is_err());
    }

    #[test]
    fn an_exported_candidate_is_exported_as_its_release() {
        let original = wat::parse_str(
            r#"(component
                (core module $m (func (export "f") (result i32) i32.const 5))
                (core instance $i (instantiate $m))
                (func $f (result u32) (canon lift (core func $i "f")))
                (instance $handler (export "f" (func $f)))
                (export "wasi:test/handler@0.3.0-rc-2026-03-15" (instance $handler)))"#,
        )
        .unwrap();
        let wrapped = wrap(&original)
            .unwrap()
            .expect("the component exports a candidate");
        let engine = Engine::default();
        let component = Component::new(&engine, &wrapped).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::<()>::new(&engine)
            .instantiate(&mut store, &component)
            .unwrap();
        let handler = instance
            .get_export_index(&mut store, None, "wasi:test/handler@0.3.0")
            .expect("exported under the release name");
        let f = instance
            .get_export_index(&mut store, Some(&handler), "f")
            .unwrap();
        let f = instance
            .get_typed_func::<(), (u32,)>(&mut store, &f)
            .unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap().0, 5);
    }

    #[test]
    fn components_without_candidates_are_left_alone() {
        let original = wat::parse_str(
            r#"(component
                (import "wasi:test/x@0.3.0" (instance (export "f" (func (result u32))))))"#,
        )
        .unwrap();
        assert!(wrap(&original).unwrap().is_none());
    }

    #[test]
    fn candidates_map_to_their_release() {
        assert_eq!(
            release_of("wasi:http/types@0.3.0-rc-2026-03-15"),
            Some("wasi:http/types@0.3.0")
        );
        assert_eq!(release_of("wasi:http/types@0.3.0"), None);
        assert_eq!(release_of("spin:up/x@1.0.0-rc-1"), None);
        assert_eq!(
            release_of("wasi:cli/stdout@0.2.0-rc-2023-10-18"),
            Some("wasi:cli/stdout@0.2.0")
        );
        assert_eq!(release_of("wasi:keyvalue/store@0.2.0-draft2"), None);
    }
}
