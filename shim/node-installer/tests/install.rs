//! The installer against real containerd config files (tests/hosts/<case>/ is a host
//! root), with golden results in tests/golden/ (`UPDATE_GOLDEN=1` rewrites them).
//! Each case runs twice: the second run must write nothing and restart nothing.

use std::path::{Path, PathBuf};

use spin_node_installer::install::{Options, install};
use spin_node_installer::restart::Restart;

const SHIM_PATH: &str = "/opt/spin/bin/containerd-shim-spin-v2";

struct Host {
    root: tempfile::TempDir,
    shim: PathBuf,
    restarts: PathBuf,
}

impl Host {
    fn from_fixture(case: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        copy_tree(&fixtures().join("hosts").join(case), root.path());
        let shim = root.path().join("image-shim");
        std::fs::write(&shim, b"\x7fELF pretend shim").unwrap();
        let restarts = root.path().join("restarts.log");
        Self {
            root,
            shim,
            restarts,
        }
    }

    fn options(&self) -> Options {
        Options {
            host_root: self.root.path().to_path_buf(),
            shim_source: self.shim.clone(),
            install_dir: PathBuf::from("/opt/spin/bin"),
            containerd_config: None,
            restart: Some(Restart::Command(format!(
                "echo restarted >> {}",
                self.restarts.display()
            ))),
            host_pid: 1,
            node_config: None,
        }
    }

    fn restart_count(&self) -> usize {
        std::fs::read_to_string(&self.restarts)
            .unwrap_or_default()
            .lines()
            .count()
    }

    fn file(&self, host_path: &Path) -> String {
        std::fs::read_to_string(self.root.path().join(host_path.strip_prefix("/").unwrap()))
            .unwrap()
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

fn check_golden(name: &str, actual: &str) {
    let path = fixtures().join("golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs (UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}

/// The `spin` runtime's table, read with a plain TOML parser (template lines dropped).
fn spin_runtime(config: &str, cri_plugin: &str) -> toml::Table {
    let toml_only: String = config
        .lines()
        .filter(|l| !l.trim_start().starts_with("{{"))
        .map(|l| format!("{l}\n"))
        .collect();
    let doc: toml::Table = toml::from_str(&toml_only).expect("the result is TOML");
    let mut table = &doc;
    for key in ["plugins", cri_plugin, "containerd", "runtimes", "spin"] {
        table = table[key]
            .as_table()
            .unwrap_or_else(|| panic!("{key} in\n{config}"));
    }
    table.clone()
}

/// Installs twice; checks the golden result, the runtime's values and idempotence.
fn installs(case: &str, config: &str, cri_plugin: &str) -> String {
    let host = Host::from_fixture(case);
    let before =
        std::fs::read_to_string(host.root.path().join(config.strip_prefix('/').unwrap())).ok();

    let first = install(&host.options()).unwrap();
    assert_eq!(first.config.path, Path::new(config));
    assert!(first.config_changed);
    assert!(first.shim_copied);
    assert_eq!(
        first.restarted.as_deref().map(|c| c.starts_with("echo")),
        Some(true)
    );
    assert_eq!(host.restart_count(), 1);
    let result = host.file(Path::new(config));
    check_golden(&format!("{case}.toml"), &result);
    let spin = spin_runtime(&result, cri_plugin);
    assert_eq!(spin["runtime_type"].as_str(), Some("io.containerd.spin.v2"));
    assert_eq!(spin["runtime_path"].as_str(), Some(SHIM_PATH));
    assert_eq!(
        std::fs::read(host.root.path().join(SHIM_PATH.strip_prefix('/').unwrap())).unwrap(),
        b"\x7fELF pretend shim"
    );
    if let Some(before) = before {
        // Everything that was there is still there, in order (comments included),
        // but for where an earlier install pointed the runtime.
        let kept: Vec<&str> = before
            .lines()
            .filter(|l| !l.contains("containerd-shim-spin-v2"))
            .collect();
        let mut after = result.lines();
        for line in &kept {
            assert!(
                after.any(|l| l == *line),
                "line {line:?} of the original is missing or moved:\n{result}"
            );
        }
    }

    let second = install(&host.options()).unwrap();
    assert!(!second.config_changed, "second run changed the config");
    assert!(!second.shim_copied, "second run copied the shim");
    assert_eq!(second.restarted, None, "second run restarted containerd");
    assert_eq!(host.restart_count(), 1);
    assert_eq!(host.file(Path::new(config)), result);
    result
}

const V2: &str = "io.containerd.grpc.v1.cri";
const V3: &str = "io.containerd.cri.v1.runtime";

#[test]
fn debian_stock_config() {
    installs("debian-stock", "/etc/containerd/config.toml", V2);
}

#[test]
fn kubeadm_style_full_default_config() {
    let result = installs("kubeadm-default-1.7", "/etc/containerd/config.toml", V2);
    // Placed with the other runtimes, not at the end of the file.
    let runc = result
        .find("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]")
        .unwrap();
    let spin = result
        .find("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.spin]")
        .unwrap();
    let untrusted = result
        .find("[plugins.\"io.containerd.grpc.v1.cri\".containerd.untrusted_workload_runtime]")
        .unwrap();
    assert!(runc < spin && spin < untrusted, "{result}");
}

#[test]
fn containerd_2_config_version_3() {
    installs("containerd-2", "/etc/containerd/config.toml", V3);
}

#[test]
fn legacy_version_1_config() {
    installs("legacy-v1", "/etc/containerd/config.toml", "cri");
}

#[test]
fn no_config_yet() {
    let result = installs("no-config", "/etc/containerd/config.toml", V2);
    assert!(result.starts_with("version = 2\n"), "{result}");
}

#[test]
fn a_kwasm_spin_runtime_is_taken_over() {
    let result = installs("kwasm-installed", "/etc/containerd/config.toml", V2);
    assert!(!result.contains("/opt/kwasm"), "{result}");
}

#[test]
fn k3s_with_containerd_2_gets_a_new_v3_template() {
    let result = installs(
        "k3s-new-template",
        "/var/lib/rancher/k3s/agent/etc/containerd/config-v3.toml.tmpl",
        V3,
    );
    assert!(
        result.starts_with("{{ template \"base\" . }}\n"),
        "{result}"
    );
}

#[test]
fn k3s_existing_template_keeps_its_template_lines() {
    let result = installs(
        "k3s-existing-template",
        "/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl",
        V2,
    );
    // The runtime goes after `{{ end }}`, outside the conditional block.
    assert!(
        result.find("{{ end }}").unwrap() < result.find("runtimes.spin]").unwrap(),
        "{result}"
    );
}

#[test]
fn rke2_with_containerd_2() {
    installs(
        "rke2-containerd-2",
        "/var/lib/rancher/rke2/agent/etc/containerd/config-v3.toml.tmpl",
        V3,
    );
}

#[test]
fn a_malformed_config_is_reported_and_left_untouched() {
    let host = Host::from_fixture("malformed");
    let config = Path::new("/etc/containerd/config.toml");
    let before = host.file(config);
    let err = install(&host.options()).unwrap_err().to_string();
    check_golden("malformed.error.txt", &format!("{err}\n"));
    assert!(err.contains("/etc/containerd/config.toml"), "{err}");
    assert!(err.contains("left untouched"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert_eq!(host.file(config), before);
    assert_eq!(host.restart_count(), 0);
    assert!(
        !host
            .root
            .path()
            .join(SHIM_PATH.strip_prefix('/').unwrap())
            .exists(),
        "the shim was installed although the config is broken"
    );
}

#[test]
fn a_new_shim_is_copied_without_restarting_containerd() {
    let host = Host::from_fixture("debian-stock");
    install(&host.options()).unwrap();
    std::fs::write(&host.shim, b"\x7fELF pretend shim, version 2").unwrap();
    let again = install(&host.options()).unwrap();
    assert!(again.shim_copied);
    assert!(!again.config_changed);
    assert_eq!(again.restarted, None);
    assert_eq!(host.restart_count(), 1);
}

#[test]
fn a_failed_restart_is_retried_on_the_next_run() {
    let host = Host::from_fixture("debian-stock");
    let mut failing = host.options();
    failing.restart = Some(Restart::Command("echo 'unit not found' >&2; exit 1".into()));
    let err = install(&failing).unwrap_err().to_string();
    assert!(err.contains("containerd was not restarted"), "{err}");
    assert!(err.contains("unit not found"), "{err}");
    // The config is already written; the restart is still owed.
    let next = install(&host.options()).unwrap();
    assert!(!next.config_changed);
    assert!(next.restarted.is_some());
    assert_eq!(host.restart_count(), 1);
    // And then it is settled.
    assert_eq!(install(&host.options()).unwrap().restarted, None);
}

#[test]
fn a_symlinked_config_is_edited_where_it_points() {
    let host = Host::from_fixture("debian-stock");
    let etc = host.root.path().join("etc/containerd");
    std::fs::create_dir_all(etc.join("managed")).unwrap();
    std::fs::rename(etc.join("config.toml"), etc.join("managed/config.toml")).unwrap();
    // Absolute, as the host sees it: it must not be followed inside the installer.
    std::os::unix::fs::symlink(
        "/etc/containerd/managed/config.toml",
        etc.join("config.toml"),
    )
    .unwrap();

    let report = install(&host.options()).unwrap();
    assert_eq!(
        report.config.path,
        Path::new("/etc/containerd/managed/config.toml")
    );
    assert!(
        std::fs::symlink_metadata(etc.join("config.toml"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    let config = host.file(Path::new("/etc/containerd/managed/config.toml"));
    assert_eq!(
        spin_runtime(&config, V2)["runtime_path"].as_str(),
        Some(SHIM_PATH)
    );
    assert!(!install(&host.options()).unwrap().config_changed);
}

/// The node's ceilings on pods' settings go beside the shim, where the shim reads them,
/// checked first: a broken file stops the installation before anything is written.
#[test]
fn the_node_config_is_checked_and_written_beside_the_shim() {
    let host = Host::from_fixture("debian-stock");
    let text = "[ceilings]\nSPIN_KEY_VALUE_MAX_BYTES = \"64Mi\"\n";
    let broken = Options {
        node_config: Some("[ceilings]\nSPIN_NOPE = 1\n".into()),
        ..host.options()
    };
    let e = install(&broken).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "node config /opt/spin/bin/containerd-shim-spin-v2.toml: ceilings.SPIN_NOPE is not a setting"
        ) && e.ends_with("nothing was installed"),
        "{e}"
    );
    assert_eq!(host.restart_count(), 0);
    assert!(!host.root.path().join("opt/spin/bin").exists());

    let options = Options {
        node_config: Some(text.into()),
        ..host.options()
    };
    assert!(install(&options).unwrap().node_config_written);
    assert_eq!(
        host.file(Path::new("/opt/spin/bin/containerd-shim-spin-v2.toml")),
        text
    );
    // Unchanged: not written again; without the option, left as it is.
    assert!(!install(&options).unwrap().node_config_written);
    assert!(!install(&host.options()).unwrap().node_config_written);
    assert_eq!(
        host.file(Path::new("/opt/spin/bin/containerd-shim-spin-v2.toml")),
        text
    );
}
