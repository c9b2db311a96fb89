use super::*;
use crate::locked::InheritConfiguration;

struct App {
    dir: tempfile::TempDir,
}

impl App {
    fn new(manifest: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
        std::fs::write(dir.path().join("app.wasm"), b"\0asm").unwrap();
        Self { dir }
    }
    fn file(self, rel: &str, body: &str) -> Self {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
        self
    }
    fn load(&self) -> Result<LockedApp, AppError> {
        load_app(self.dir.path())
    }
    fn error(&self) -> String {
        self.load().expect_err("load should fail").to_string()
    }
}

const HEADER: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
version = "1.2.3"
"#;

fn manifest(rest: &str) -> String {
    format!("{HEADER}{rest}")
}

const ONE_COMPONENT: &str = r#"
[variables]
greeting = { default = "hello" }
api_host = { required = true, secret = true }

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "app.wasm"
variables = { message = "{{ greeting }} world", url = "https://{{ api_host }}/x" }
environment = { MODE = "test" }
allowed_outbound_hosts = ["https://example.com", "http://{{ api_host }}:8080"]
key_value_stores = ["default"]
files = ["static/**/*", { source = "data", destination = "/etc/data" }]
exclude_files = ["static/secret.txt"]
"#;

#[test]
fn locks_a_full_manifest() {
    let app = App::new(&manifest(ONE_COMPONENT))
        .file("static/index.html", "<h1>hi</h1>")
        .file("static/secret.txt", "no")
        .file("static/css/a.css", "a")
        .file("data/conf.json", "{}");
    let locked = app.load().unwrap();
    assert_eq!(locked.name(), Some("demo"));
    assert_eq!(locked.metadata["version"], "1.2.3");
    assert_eq!(locked.metadata["trigger"]["type"], "http");
    assert_eq!(locked.variables["api_host"].default, None);
    assert!(locked.variables["api_host"].secret);
    assert_eq!(locked.triggers.len(), 1);
    assert_eq!(locked.triggers[0].trigger_type, "http");
    assert_eq!(locked.triggers[0].trigger_config["route"], "/...");
    assert_eq!(locked.triggers[0].trigger_config["component"], "web");

    let web = locked.component("web").unwrap();
    let source = web.source.content.source.as_deref().unwrap();
    assert!(
        source.starts_with("file:///") && source.ends_with("/app.wasm"),
        "{source}"
    );
    assert_eq!(web.env["MODE"], "test");
    assert_eq!(web.config["message"], "{{ greeting }} world");
    assert_eq!(web.metadata_strings("key_value_stores"), ["default"]);
    assert_eq!(web.metadata_strings("allowed_outbound_hosts").len(), 2);
    let paths: Vec<_> = web
        .files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "etc/data/conf.json",
            "static/css/a.css",
            "static/index.html"
        ]
    );
    for f in &web.files {
        let host = file_path(f.content.source.as_deref().unwrap()).unwrap();
        assert!(host.is_file(), "{}", host.display());
    }
}

#[test]
fn locked_file_is_accepted_too() {
    let app = App::new(&manifest(ONE_COMPONENT))
        .file("static/index.html", "x")
        .file("data/conf.json", "{}");
    let locked = app.load().unwrap();
    let lock_path = app.dir.path().join("spin.lock");
    std::fs::write(&lock_path, locked.to_json()).unwrap();
    assert_eq!(load_app(&lock_path).unwrap(), locked);
}

#[test]
fn deprecated_allowed_http_hosts_become_outbound_hosts() {
    let app = App::new(&manifest(
        r#"
[[trigger.http]]
route = "/"
component = "web"
[component.web]
source = "app.wasm"
allowed_http_hosts = ["example.com"]
"#,
    ));
    let locked = app.load().unwrap();
    assert_eq!(
        locked.components[0].metadata_strings("allowed_outbound_hosts"),
        ["http://example.com", "https://example.com"]
    );
}

#[test]
fn inline_component_gets_an_id() {
    let app = App::new(&manifest(
        r#"
[[trigger.http]]
route = "/"
component = { source = "app.wasm" }
"#,
    ));
    let locked = app.load().unwrap();
    assert_eq!(locked.components[0].id, "http-trigger-0");
    assert_eq!(
        locked.triggers[0].trigger_config["component"],
        "http-trigger-0"
    );
}

/// Every malformed manifest is refused with the file, the field and the fix.
#[test]
fn malformed_manifests_are_explained() {
    let web = |extra: &str| {
        manifest(&format!(
            "[[trigger.http]]\nroute = \"/\"\ncomponent = \"web\"\n[component.web]\nsource = \"app.wasm\"\n{extra}"
        ))
    };
    let cases: Vec<(String, &[&str])> = vec![
        (
            "spin_manifest_version = 3\n[application]\nname = \"x\"".into(),
            &["spin_manifest_version", "version 3 is not supported"],
        ),
        (
            "spin_version = \"1\"\nname = \"x\"".into(),
            &["missing field `trigger`", "(version 1 manifest)"],
        ),
        (
            "spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n\
             [[component]]\nid = \"a\"\nsource = \"a.wasm\"\ntrigger = { route = \"/\" }\n\
             allowed_http_hosts = [\"http://x/y\"]"
                .into(),
            &["component[0].allowed_http_hosts", "has a path"],
        ),
        (
            "[application]\nname = \"x\"".into(),
            &["spin_manifest_version", "missing"],
        ),
        (
            "spin_manifest_version = 2\n[application\n".into(),
            &["not a valid Spin manifest"],
        ),
        (web("sorce = \"x\""), &["unknown field `sorce`"]),
        (
            manifest("[[trigger.http]]\nroute = \"/\"\ncomponent = \"nope\"\n"),
            &["trigger.http[0].component", "no component \"nope\""],
        ),
        (
            manifest("[[trigger.http]]\nroute = \"/\"\n"),
            &["trigger.http[0].component", "missing"],
        ),
        (
            manifest(
                "[[trigger.http]]\nroute = \"/\"\ncomponent = \"Web\"\n[component.Web]\nsource = \"app.wasm\"\n",
            ),
            &["component.Web", "kebab-case"],
        ),
        (
            web("").replace("app.wasm", "missing.wasm"),
            &["component.web.source", "missing.wasm does not exist"],
        ),
        (
            web("[component.web.build]\ncommand = \"cargo build --release\"")
                .replace("source = \"app.wasm\"", "source = \"target/x.wasm\""),
            &["cargo build --release"],
        ),
        (
            web("").replace(
                "source = \"app.wasm\"",
                "source = { url = \"https://x/y.wasm\", digest = \"sha256:0\" }",
            ),
            &["component.web.source", "https://x/y.wasm was not fetched"],
        ),
        (
            web("variables = { Bad = \"x\" }"),
            &["component.web.variables.Bad", "lower_snake_case"],
        ),
        (
            web("variables = { x = \"{{ undeclared }}\" }"),
            &["component.web.variables.x", "[variables] undeclared"],
        ),
        (
            web("variables = { x = \"{{ open\" }"),
            &["component.web.variables.x", "closing"],
        ),
        (
            web("allowed_outbound_hosts = [\"example.com\"]"),
            &["allowed_outbound_hosts[0]", "no scheme"],
        ),
        (
            web("files = [\"../etc/passwd\"]"),
            &["component.web.files", "leaves the app directory"],
        ),
        (
            web("files = [\"nothing-here.txt\"]"),
            &["component.web.files", "does not exist"],
        ),
        (
            web("files = [{ source = \"nope\", destination = \"/\" }]"),
            &["component.web.files", "source \"nope\" does not exist"],
        ),
        (
            web("[component.web.dependencies]\n\"a:b/c\" = \"1.0\""),
            &["component.web.dependencies.\"a:b/c\"", "was not fetched"],
        ),
        (
            web("[component.web.dependencies]\n\"a:b/c\" = { path = \"nope.wasm\" }"),
            &[
                "component.web.dependencies.\"a:b/c\".path",
                "does not exist",
            ],
        ),
        (
            web("[component.web.dependencies]\n\"A B\" = { path = \"app.wasm\" }"),
            &[
                "component.web.dependencies.\"A B\"",
                "not a dependency name",
            ],
        ),
        (
            web(
                "[component.web.dependencies]\n\"a:b/c\" = { path = \"app.wasm\", inherit_configuration = [\"file\"] }",
            ),
            &[
                "inherit_configuration",
                "\"file\" is not a configuration",
                "files",
            ],
        ),
        (
            web(
                "dependencies_inherit_configuration = true\n[component.web.dependencies]\n\"a:b/c\" = { path = \"app.wasm\", inherit_configuration = true }",
            ),
            &[
                "component.web.dependencies_inherit_configuration",
                "not both",
            ],
        ),
        (
            web("[component.web.dependencies]\n\"a:b/c\" = { component = \"nobody\" }"),
            &[
                "component.web.dependencies.\"a:b/c\".component",
                "no component \"nobody\"",
            ],
        ),
        (
            web(
                "[component.web.dependencies]\n\"a:b/c\" = { path = \"app.wasm\", url = \"https://x/y.wasm\" }",
            ),
            &["exactly one of `path`, `url`"],
        ),
        (
            web("key_value_stores = [\"Bad Store\"]"),
            &["key_value_stores", "not a store label"],
        ),
        (
            manifest("[variables]\nx = { required = true, default = \"a\" }\n"),
            &["variables.x", "not both"],
        ),
        (
            manifest("[variables]\nx = {}\n"),
            &["variables.x", "not neither"],
        ),
        (
            manifest("[variables]\nBad = { default = \"a\" }\n"),
            &["variables.Bad", "lower_snake_case"],
        ),
        (
            web("").replace("name = \"demo\"", "name = \"\""),
            &["application.name", "empty"],
        ),
    ];
    for (text, expected) in cases {
        let err = App::new(&text).error();
        assert!(
            err.contains("spin.toml"),
            "error does not name the file: {err}"
        );
        for e in expected {
            assert!(
                err.contains(e),
                "expected {e:?} in: {err}\n--- manifest ---\n{text}"
            );
        }
    }
}

#[test]
fn locks_dependencies_and_moves_middleware_onto_the_component() {
    let text = manifest(
        r#"
[[trigger.http]]
route = "/..."
component = "web"
dependencies.middleware = [{ component = "logger", inherit_configuration = ["key_value_stores"] }, { path = "mw.wasm" }]

[component.web]
source = "app.wasm"
dependencies_inherit_configuration = true
[component.web.dependencies]
"my:lib/greet@0.1.0" = { path = "lib.wasm", export = "my:lib/greet@0.2.0" }
"other:pkg" = { component = "logger" }

[component.logger]
source = "logger.wasm"
"#,
    );
    let app = App::new(&text)
        .file("lib.wasm", "\0asm")
        .file("mw.wasm", "\0asm")
        .file("logger.wasm", "\0asm");
    let dir = std::fs::canonicalize(app.dir.path()).unwrap();
    let locked = app.load().unwrap();
    let web = locked.component("web").unwrap();
    let greet = &web.dependencies["my:lib/greet@0.1.0"];
    assert_eq!(greet.export.as_deref(), Some("my:lib/greet@0.2.0"));
    assert_eq!(greet.inherit, InheritConfiguration::All);
    assert!(
        greet
            .source
            .content
            .source
            .as_ref()
            .unwrap()
            .ends_with("/lib.wasm")
    );
    let other = &web.dependencies["other:pkg"];
    assert!(
        other
            .source
            .content
            .source
            .as_ref()
            .unwrap()
            .ends_with("/logger.wasm")
    );
    let middleware = &web.trigger_dependencies["middleware"];
    assert_eq!(middleware.len(), 2);
    assert_eq!(
        middleware[0].inherit,
        InheritConfiguration::Some(vec!["key_value_stores".into()])
    );
    assert_eq!(middleware[1].inherit, InheritConfiguration::default());
    assert!(locked.triggers[0].trigger_dependencies.is_empty());
    assert_eq!(web.host_requirements["middleware"], "required");
    assert_eq!(locked.must_understand, ["component_host_requirements"]);
    // The locked app round-trips, as Spin writes it.
    let json = String::from_utf8(locked.to_json()).unwrap();
    assert!(json.contains("\"inherit\": \"All\""), "{json}");
    assert!(json.contains("\"Some\": ["), "{json}");
    let again = LockedApp::from_json(json.as_bytes(), &dir).unwrap();
    assert_eq!(again, locked);
}

#[test]
fn middleware_is_refused_on_other_triggers() {
    let text = manifest(
        r#"
[[trigger.redis]]
channel = "c"
component = "web"
dependencies.middleware = [{ path = "app.wasm" }]
[component.web]
source = "app.wasm"
"#,
    );
    let err = App::new(&text).error();
    assert!(
        err.contains("trigger.redis[0].dependencies.middleware"),
        "{err}"
    );
}

#[test]
fn remote_sources_include_dependencies_and_middleware() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let text = manifest(&format!(
        r#"
[[trigger.http]]
route = "/..."
component = "web"
dependencies.middleware = [{{ url = "https://example.com/mw.wasm", digest = "{digest}" }}]
[component.web]
source = "app.wasm"
[component.web.dependencies]
"my:lib" = {{ url = "https://example.com/lib.wasm", digest = "{digest}" }}
"#
    ));
    let app = App::new(&text);
    let fields: Vec<_> = sources_to_fetch(app.dir.path())
        .unwrap()
        .urls
        .into_iter()
        .map(|s| (s.field, s.url))
        .collect();
    assert_eq!(
        fields,
        [
            (
                "component.web.dependencies.\"my:lib\".url".to_string(),
                "https://example.com/lib.wasm".to_string()
            ),
            (
                "trigger.http[0].dependencies.middleware[0].url".to_string(),
                "https://example.com/mw.wasm".to_string()
            ),
        ]
    );
    let fetched = FetchedSources {
        files: [(
            Sha256Digest::parse(&digest).unwrap(),
            app.dir.path().join("app.wasm"),
        )]
        .into(),
        packages: Default::default(),
    };
    let locked = load_app_fetched(app.dir.path(), &fetched).unwrap();
    let web = locked.component("web").unwrap();
    assert_eq!(
        web.dependencies["my:lib"]
            .source
            .content
            .digest
            .as_ref()
            .map(|d| d.to_string()),
        Some(digest.clone())
    );
    assert_eq!(web.trigger_dependencies["middleware"].len(), 1);
}

#[test]
fn registry_packages_are_listed_and_locked_once_fetched() {
    let text = manifest(
        r#"
[[trigger.http]]
route = "/..."
component = "web"
dependencies.middleware = [{ version = "1", package = "my:mw" }]
[component.web]
source = { registry = "localhost:5000", package = "my:app", version = "1.0.0" }
[component.web.dependencies]
"my:lib/greet@0.1.0" = "0.1"
"#,
    );
    let app = App::new(&text);
    let wanted = sources_to_fetch(app.dir.path()).unwrap();
    let listed: Vec<_> = wanted
        .packages
        .iter()
        .map(|p| (p.field.as_str(), p.request.to_string()))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "component.web.source",
                "my:app =1.0.0 from localhost:5000".to_string()
            ),
            (
                "component.web.dependencies.\"my:lib/greet@0.1.0\"",
                "my:lib ^0.1".to_string()
            ),
            (
                "trigger.http[0].dependencies.middleware[0]",
                "my:mw ^1".to_string()
            ),
        ]
    );

    let err = load_app(app.dir.path()).unwrap_err().to_string();
    assert!(err.contains("was not fetched"), "{err}");

    let digest = Sha256Digest::of(b"wasm");
    let fetched = FetchedSources {
        files: [(digest.clone(), app.dir.path().join("app.wasm"))].into(),
        packages: wanted
            .packages
            .into_iter()
            .map(|p| (p.request, digest.clone()))
            .collect(),
    };
    let locked = load_app_fetched(app.dir.path(), &fetched).unwrap();
    let web = locked.component("web").unwrap();
    assert_eq!(web.source.content.digest.as_ref(), Some(&digest));
    assert_eq!(
        web.dependencies["my:lib/greet@0.1.0"]
            .source
            .content
            .digest
            .as_ref(),
        Some(&digest)
    );
    assert_eq!(
        web.trigger_dependencies["middleware"][0]
            .source
            .content
            .digest
            .as_ref(),
        Some(&digest)
    );
}

#[test]
fn a_registry_dependency_without_a_package_name_is_refused() {
    let text = manifest(
        r#"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "app.wasm"
[component.web.dependencies]
greeter = "0.1"
"#,
    );
    let app = App::new(&text);
    let err = sources_to_fetch(app.dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("component.web.dependencies.\"greeter\"") && err.contains("`package`"),
        "{err}"
    );
}
