//! Composition run for real: components made from WAT and WIT, composed, then
//! instantiated in Wasmtime with a host that provides only what the composition
//! should still import.

use spin_app::locked::InheritConfiguration;
use spin_compose::{ComposeError, Dependency, compose_dependencies, compose_middleware};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::Resolve;

/// WIT shared by the test components. `fermyon:spin/llm` and `wasi:cli/environment`
/// stand for interfaces governed by `ai_models` and `environment`; `wasi:http/handler`
/// for the middleware interface (a plain function here).
const WIT: &str = r#"
package test:lib@0.1.0;
interface greet { greet: func() -> u32; }
world lib { export greet; }
world app { import greet; export run: func() -> u32; }
world nosy {
  import fermyon:spin/llm;
  import wasi:cli/environment@0.2.6;
  export greet;
}
world handler-app { export wasi:http/handler@0.3.0; }
world middleware { import wasi:http/handler@0.3.0; export wasi:http/handler@0.3.0; }
"#;
const DEPS: &[(&str, &str)] = &[
    (
        "llm.wit",
        "package fermyon:spin; interface llm { ping: func() -> u32; }",
    ),
    (
        "cli.wit",
        "package wasi:cli@0.2.6; interface environment { get-environment: func() -> list<tuple<string, string>>; }",
    ),
    (
        "http.wit",
        "package wasi:http@0.3.0; interface handler { handle: func(x: u32) -> u32; }",
    ),
];

fn component(world: &str, wat: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    for (name, text) in DEPS {
        resolve.push_str(name, text).unwrap();
    }
    let package = resolve.push_str("test.wit", WIT).unwrap();
    let world = resolve.select_world(&[package], Some(world)).unwrap();
    let mut module = wat::parse_str(wat).unwrap();
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

const REALLOC: &str = r#"
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 3)))
    (local.get $p))
"#;

/// Exports `greet` returning 42.
fn lib() -> Vec<u8> {
    component(
        "lib",
        r#"(module (func (export "test:lib/greet@0.1.0#greet") (result i32) i32.const 42))"#,
    )
}

/// Exports `run`, returning what the imported `greet` returns, plus one.
fn app() -> Vec<u8> {
    component(
        "app",
        r#"(module
          (import "test:lib/greet@0.1.0" "greet" (func $greet (result i32)))
          (func (export "run") (result i32) (i32.add (call $greet) (i32.const 1))))"#,
    )
}

/// `greet` returns 1000 × (the number of environment variables it sees) + what
/// `fermyon:spin/llm` `ping` answers.
fn nosy() -> Vec<u8> {
    component(
        "nosy",
        &format!(
            r#"(module
          (import "fermyon:spin/llm" "ping" (func $ping (result i32)))
          (import "wasi:cli/environment@0.2.6" "get-environment" (func $env (param i32)))
          {REALLOC}
          (func (export "test:lib/greet@0.1.0#greet") (result i32)
            (call $env (i32.const 16))
            (i32.add (i32.mul (i32.load (i32.const 20)) (i32.const 1000)) (call $ping))))"#
        ),
    )
}

fn host_linker(engine: &Engine) -> Linker<()> {
    let mut linker = Linker::new(engine);
    linker
        .instance("fermyon:spin/llm")
        .unwrap()
        .func_wrap("ping", |_, (): ()| Ok((7u32,)))
        .unwrap();
    linker
        .instance("wasi:cli/environment@0.2.6")
        .unwrap()
        .func_wrap("get-environment", |_, (): ()| {
            Ok((vec![
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "2".to_string()),
            ],))
        })
        .unwrap();
    linker
}

/// Instantiates `wasm` against the host and calls its export `func` (`path` is the
/// exported instance holding it, if any) with `args`.
fn call(wasm: &[u8], instance: Option<&str>, func: &str, args: &[u32]) -> Result<u32, String> {
    let engine = Engine::default();
    let component = Component::new(&engine, wasm).map_err(|e| format!("{e:#}"))?;
    let mut store = Store::new(&engine, ());
    let instance_ = host_linker(&engine)
        .instantiate(&mut store, &component)
        .map_err(|e| format!("{e:#}"))?;
    let parent = instance.map(|name| instance_.get_export_index(&mut store, None, name).unwrap());
    let index = instance_
        .get_export_index(&mut store, parent.as_ref(), func)
        .unwrap();
    let result = match args {
        [] => instance_
            .get_typed_func::<(), (u32,)>(&mut store, index)
            .unwrap()
            .call(&mut store, ()),
        [x] => instance_
            .get_typed_func::<(u32,), (u32,)>(&mut store, index)
            .unwrap()
            .call(&mut store, (*x,)),
        _ => unreachable!(),
    };
    result.map(|(v,)| v).map_err(|e| format!("{e:?}"))
}

fn imports(wasm: &[u8]) -> Vec<String> {
    let engine = Engine::default();
    let component = Component::new(&engine, wasm).unwrap();
    component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

fn dependency<'a>(
    name: &'a str,
    wasm: Vec<u8>,
    inherit: &'a InheritConfiguration,
) -> Dependency<'a> {
    Dependency {
        name,
        wasm,
        export: None,
        inherit,
    }
}

#[test]
fn a_dependency_satisfies_the_import_its_name_matches() {
    let all = InheritConfiguration::All;
    for name in ["test:lib/greet@0.1.0", "test:lib/greet", "test:lib"] {
        let composed = compose_dependencies(app(), vec![dependency(name, lib(), &all)]).unwrap();
        assert!(
            imports(&composed).is_empty(),
            "{name}: {:?}",
            imports(&composed)
        );
        assert_eq!(call(&composed, None, "run", &[]), Ok(43), "{name}");
    }
}

#[test]
fn a_dependency_gets_only_the_configuration_it_inherits() {
    let nothing = InheritConfiguration::default();
    let environment = InheritConfiguration::Some(vec!["environment".into()]);
    let all = InheritConfiguration::All;
    let greet = |inherit: &InheritConfiguration| {
        let composed =
            compose_dependencies(app(), vec![dependency("test:lib", nosy(), inherit)]).unwrap();
        call(&composed, None, "run", &[])
    };
    // Everything inherited: two variables, and the host's answer 7.
    assert_eq!(greet(&all), Ok(2008));
    // The environment only: the host's variables; the model is refused (a trap).
    let refused = greet(&environment).unwrap_err();
    assert!(refused.contains("unreachable"), "{refused}");
    // Nothing: the stand-in answers the environment with nothing, and refuses the model.
    let composed =
        compose_dependencies(app(), vec![dependency("test:lib", nosy(), &nothing)]).unwrap();
    assert!(imports(&composed).is_empty(), "{:?}", imports(&composed));
    assert!(
        call(&composed, None, "run", &[])
            .unwrap_err()
            .contains("unreachable")
    );
    // Which it would have answered, had the model been inherited.
    let models = InheritConfiguration::Some(vec!["ai_models".into()]);
    assert_eq!(greet(&models), Ok(8));
}

#[test]
fn dependencies_that_match_nothing_or_the_same_import_are_refused() {
    let all = InheritConfiguration::All;
    let err = compose_dependencies(app(), vec![dependency("other:lib", lib(), &all)]).unwrap_err();
    assert!(
        matches!(&err, ComposeError::UnmatchedDependency { dependency, imports } if dependency == "other:lib" && imports.contains("test:lib/greet@0.1.0")),
        "{err}"
    );
    let err = compose_dependencies(
        app(),
        vec![
            dependency("test:lib", lib(), &all),
            dependency("test:lib/greet", lib(), &all),
        ],
    )
    .unwrap_err();
    assert!(matches!(err, ComposeError::Conflict { .. }), "{err}");
    let mut renamed = dependency("test:lib", lib(), &all);
    renamed.export = Some("test:lib/other@0.1.0");
    let err = compose_dependencies(app(), vec![renamed]).unwrap_err();
    assert!(
        err.to_string()
            .contains("no export \"test:lib/other@0.1.0\""),
        "{err}"
    );
    let err = compose_dependencies(
        app(),
        vec![dependency("test:lib", b"\0asm junk".to_vec(), &all)],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("dependency \"test:lib\" is not a valid component"),
        "{err}"
    );
}

/// `handle(x)` returns `inner(x) * 10 + digit`.
fn middleware(digit: u32) -> Vec<u8> {
    component(
        "middleware",
        &format!(
            r#"(module
          (import "wasi:http/handler@0.3.0" "handle" (func $inner (param i32) (result i32)))
          (func (export "wasi:http/handler@0.3.0#handle") (param i32) (result i32)
            (i32.add (i32.mul (call $inner (local.get 0)) (i32.const 10)) (i32.const {digit}))))"#
        ),
    )
}

#[test]
fn middleware_wraps_the_component_outermost_first() {
    let handler = component(
        "handler-app",
        r#"(module (func (export "wasi:http/handler@0.3.0#handle") (param i32) (result i32) local.get 0))"#,
    );
    let nothing = InheritConfiguration::default();
    let composed = compose_middleware(
        handler.clone(),
        vec![(middleware(1), &nothing), (middleware(2), &nothing)],
    )
    .unwrap();
    assert!(imports(&composed).is_empty(), "{:?}", imports(&composed));
    // The request enters middleware 1, which calls middleware 2, which calls the app.
    assert_eq!(
        call(&composed, Some("wasi:http/handler@0.3.0"), "handle", &[5]),
        Ok(521)
    );
    let err = compose_middleware(handler, vec![(lib(), &nothing)]).unwrap_err();
    assert!(
        err.to_string().contains("middleware 0 does not import"),
        "{err}"
    );
    let err = compose_middleware(app(), vec![(middleware(1), &nothing)]).unwrap_err();
    assert!(
        err.to_string().contains("export wasi:http/handler@0.3.0"),
        "{err}"
    );
}
