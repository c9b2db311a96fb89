//! A CRI client over containerd's socket, driving it as kubelet does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

pub use k8s_cri::v1 as api;

pub struct Cri {
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl Cri {
    pub async fn connect(socket: PathBuf) -> Self {
        let channel = Endpoint::try_from("http://[::]")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(socket).await?,
                    ))
                }
            }))
            .await
            .expect("CRI socket");
        Self {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }

    /// A pod sandbox config as kubelet sends it, with our RuntimeClass's handler.
    pub fn pod_config(name: &str, log_dir: &std::path::Path) -> api::PodSandboxConfig {
        api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.into(),
                uid: format!("uid-{name}"),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            log_directory: log_dir.display().to_string(),
            linux: Some(api::LinuxPodSandboxConfig::default()),
            ..Default::default()
        }
    }
}

/// A running pod with one Spin app container, and how long it took to answer.
pub struct AppPod {
    pub sandbox: String,
    pub container: String,
    pub ip: String,
    /// Where CRI writes the container's log (`app.log`).
    pub log_dir: PathBuf,
    pub create_to_200: Duration,
    pub start_to_200: Duration,
}

impl AppPod {
    /// Waits until the container's log holds a line containing `needle`; panics with the
    /// log after `within`.
    pub async fn wait_for_log(&self, needle: &str, within: Duration) {
        let log = self.log_dir.join("app.log");
        let deadline = Instant::now() + within;
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no log line containing {needle:?} within {within:?}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// How to run an app pod.
pub struct PodSpec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub log_root: &'a Path,
    /// The pod's cgroup parent, as kubelet's cgroupfs driver sets it.
    pub cgroup_parent: Option<String>,
    pub memory_limit: Option<i64>,
    /// The container's environment (the Deployment's `env`).
    pub env: Vec<(String, String)>,
    /// Bind mounts as (host file, path in the container), as the kubelet mounts a
    /// Secret or its managed `/etc/hosts`.
    pub mounts: Vec<(PathBuf, String)>,
}

impl Cri {
    /// RunPodSandbox with handler `spin`; returns the sandbox id.
    pub async fn run_sandbox(&mut self, config: &api::PodSandboxConfig) -> String {
        self.runtime
            .run_pod_sandbox(api::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: "spin".into(),
            })
            .await
            .unwrap_or_else(|e| panic!("RunPodSandbox: {e}"))
            .into_inner()
            .pod_sandbox_id
    }

    /// CreateContainer of an app container (image, optional memory limit, bind mounts
    /// as (host file, container path)) in a sandbox; returns the container id.
    pub async fn create_app_container(
        &mut self,
        sandbox: &str,
        sandbox_config: &api::PodSandboxConfig,
        image: &str,
        memory_limit: Option<i64>,
        mounts: &[(PathBuf, String)],
        env: &[(String, String)],
    ) -> String {
        self.runtime
            .create_container(api::CreateContainerRequest {
                pod_sandbox_id: sandbox.into(),
                config: Some(api::ContainerConfig {
                    metadata: Some(api::ContainerMetadata {
                        name: "app".into(),
                        attempt: 0,
                    }),
                    image: Some(api::ImageSpec {
                        image: image.into(),
                        ..Default::default()
                    }),
                    // What the operator's Deployment sets: Spin images have no entrypoint.
                    command: vec!["/".into()],
                    log_path: "app.log".into(),
                    envs: env
                        .iter()
                        .map(|(key, value)| api::KeyValue {
                            key: key.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    mounts: mounts
                        .iter()
                        .map(|(host, container)| api::Mount {
                            host_path: host.display().to_string(),
                            container_path: container.clone(),
                            readonly: true,
                            ..Default::default()
                        })
                        .collect(),
                    linux: Some(api::LinuxContainerConfig {
                        resources: memory_limit.map(|limit| api::LinuxContainerResources {
                            memory_limit_in_bytes: limit,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                sandbox_config: Some(sandbox_config.clone()),
            })
            .await
            .unwrap_or_else(|e| panic!("CreateContainer: {e}"))
            .into_inner()
            .container_id
    }

    /// PullImage, as kubelet asks before creating a container.
    pub async fn pull(&mut self, image: &str) {
        self.images
            .pull_image(api::PullImageRequest {
                image: Some(api::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("PullImage {image}: {e}"));
    }

    /// RunPodSandbox (handler `spin`), CreateContainer, StartContainer, then waits for
    /// the first HTTP answer on the pod IP, port 80. Panics with the CRI error.
    pub async fn start_app_pod(&mut self, spec: PodSpec<'_>) -> AppPod {
        let log_dir = spec.log_root.join(spec.name);
        std::fs::create_dir_all(&log_dir).unwrap();
        let mut config = Self::pod_config(spec.name, &log_dir);
        if let Some(parent) = spec.cgroup_parent {
            config.linux = Some(api::LinuxPodSandboxConfig {
                cgroup_parent: parent,
                ..Default::default()
            });
        }
        let sandbox = self.run_sandbox(&config).await;
        let ip = self
            .runtime
            .pod_sandbox_status(api::PodSandboxStatusRequest {
                pod_sandbox_id: sandbox.clone(),
                verbose: false,
            })
            .await
            .unwrap_or_else(|e| panic!("PodSandboxStatus: {e}"))
            .into_inner()
            .status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .unwrap_or_default();
        assert!(!ip.is_empty(), "pod {} has no IP", spec.name);
        let created = Instant::now();
        let container = self
            .create_app_container(
                &sandbox,
                &config,
                spec.image,
                spec.memory_limit,
                &spec.mounts,
                &spec.env,
            )
            .await;
        let started = Instant::now();
        self.runtime
            .start_container(api::StartContainerRequest {
                container_id: container.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("StartContainer: {e}"));
        let host = ip.clone();
        let (status, body) = tokio::task::spawn_blocking(move || {
            crate::probe::wait_for_answer(&host, 80, "/", Duration::from_secs(60))
        })
        .await
        .unwrap();
        assert_eq!(status, 200, "{body}");
        AppPod {
            sandbox,
            container,
            ip,
            log_dir,
            create_to_200: created.elapsed(),
            start_to_200: started.elapsed(),
        }
    }

    /// StopContainer (graceful, `timeout` s), then removes the container and the pod.
    /// Returns the container's exit code.
    pub async fn remove_app_pod(&mut self, pod: &AppPod, timeout: i64) -> i32 {
        self.runtime
            .stop_container(api::StopContainerRequest {
                container_id: pod.container.clone(),
                timeout,
            })
            .await
            .unwrap_or_else(|e| panic!("StopContainer: {e}"));
        let exit_code = self
            .runtime
            .container_status(api::ContainerStatusRequest {
                container_id: pod.container.clone(),
                verbose: false,
            })
            .await
            .unwrap_or_else(|e| panic!("ContainerStatus: {e}"))
            .into_inner()
            .status
            .map(|s| s.exit_code)
            .unwrap_or(-1);
        self.runtime
            .remove_container(api::RemoveContainerRequest {
                container_id: pod.container.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("RemoveContainer: {e}"));
        self.runtime
            .stop_pod_sandbox(api::StopPodSandboxRequest {
                pod_sandbox_id: pod.sandbox.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("StopPodSandbox: {e}"));
        self.runtime
            .remove_pod_sandbox(api::RemovePodSandboxRequest {
                pod_sandbox_id: pod.sandbox.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}"));
        exit_code
    }
}

/// A node as the CRI tests and benchmarks need it: containerd with the pause image and
/// a plain-HTTP registry allowed, the hello-world app pushed there by `spin-kube` and
/// pulled over CRI.
pub struct HelloNode {
    pub containerd: crate::containerd::LocalContainerd,
    pub registry: crate::registry::LocalRegistry,
    pub cri: Cri,
    pub image: String,
    /// The app's source directory (spin.toml + hello.wasm).
    pub app: tempfile::TempDir,
}

impl HelloNode {
    pub async fn start() -> Self {
        Self::start_on(crate::containerd::LocalContainerd::start()).await
    }

    /// Runs one pod of the app (handler `spin`), checks that it answers 200 on its pod
    /// IP, then stops it (graceful: exit 0) and removes it.
    pub async fn serve_one_pod(&mut self, name: &str) {
        let logs = tempfile::tempdir().unwrap();
        let image = self.image.clone();
        let pod = self
            .cri
            .start_app_pod(PodSpec {
                name,
                image: &image,
                log_root: logs.path(),
                cgroup_parent: None,
                memory_limit: None,
                env: Vec::new(),
                mounts: Vec::new(),
            })
            .await;
        let (status, body) = crate::probe::get(&pod.ip, 80, "/").unwrap();
        assert_eq!((status, body.contains("Hello")), (200, true), "{body}");
        assert_eq!(self.cri.remove_app_pod(&pod, 10).await, 0);
    }

    /// The same node on a containerd started by the caller.
    pub async fn start_on(containerd: crate::containerd::LocalContainerd) -> Self {
        containerd.import_pause_image();
        let registry = crate::registry::LocalRegistry::start();
        containerd.allow_plain_http(&registry.addr);
        let app = tempfile::tempdir().unwrap();
        crate::probe::write_app(app.path(), &test_guests::hello());
        let image = registry.push_app(app.path(), "hello:v1");
        let mut cri = Cri::connect(containerd.socket.clone()).await;
        cri.pull(&image).await;
        Self {
            containerd,
            registry,
            cri,
            image,
            app,
        }
    }
}
