//! Where an app's outbound connections start from.
//!
//! `spin-run`, and a shim container that has no network namespace of its own, use the
//! process's network and resolver. In a pod the shim process stays in the node's
//! network namespace (only the app's listener is bound in the pod's), so a socket it
//! opened for the guest would leave from the node: reach the node's loopback services,
//! the kubelet, a cloud metadata address, with the node's routes and identity. A pod's
//! outbound connections are therefore created by a thread that joined the pod's
//! network namespace (a socket belongs to the namespace it was created in, whichever
//! thread uses it later), and names are resolved as the pod's own processes resolve
//! them: the pod's `/etc/hosts` and `/etc/resolv.conf` (which the kubelet mounts into
//! every container), with queries sent from the pod's namespace.
//!
//! `allowed_outbound_hosts` is checked before anything here runs; this module decides
//! only from where an allowed connection leaves.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_resolver::config::{ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Hosts, TokioResolver};
use tokio::net::TcpStream;

/// Largest `/etc/hosts` or `/etc/resolv.conf` read (the kubelet writes a few lines).
const MAX_NAME_FILE: u64 = 1 << 20;

/// An outbound connection's byte stream, in the clear or TLS, as a protocol client
/// takes it.
pub trait ByteStream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// The network an app's outbound connections use.
#[derive(Debug, Clone, Default)]
pub enum Network {
    /// The process's own namespace and resolver.
    #[default]
    Process,
    /// A pod's network namespace, with the pod's name resolution.
    Pod(Arc<PodNetwork>),
}

/// The files a pod resolves names with: the host sources of the container's mounts at
/// `/etc/hosts` and `/etc/resolv.conf`; the node's own files where one is not mounted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NameFiles {
    pub hosts: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
}

impl Network {
    /// The network of the namespace at `netns` (such as `/var/run/netns/cni-…`).
    pub fn pod(netns: &Path, names: &NameFiles) -> io::Result<Self> {
        PodNetwork::start(netns, names).map(|pod| Self::Pod(Arc::new(pod)))
    }

    /// The addresses `host` resolves to (an IP literal, bracketed or not, is itself).
    pub async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let addrs: Vec<SocketAddr> = match self {
            Network::Process => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("cannot resolve {host}: {e}"),
                    )
                })?
                .collect(),
            Network::Pod(pod) => pod.resolve(bare, port).await?,
        };
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} has no address"),
            ));
        }
        Ok(addrs)
    }

    /// Connects to `host:port`, trying each address it resolves to in turn.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let addrs = self.resolve(host, port).await?;
        match self {
            Network::Process => TcpStream::connect(&addrs[..]).await,
            Network::Pod(pod) => {
                // Connected on the pod's thread, then moved to the caller's runtime.
                let stream = pod
                    .run(async move {
                        let stream = TcpStream::connect(&addrs[..]).await?;
                        stream.into_std()
                    })
                    .await??;
                TcpStream::from_std(stream)
            }
        }
    }

    /// Runs `work` where sockets it creates belong to this network. Dropping the
    /// returned future stops `work`.
    pub async fn run<F>(&self, work: F) -> io::Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Network::Process => Ok(work.await),
            Network::Pod(pod) => pod.run(work).await,
        }
    }
}

/// A thread in a pod's network namespace running a single-threaded Tokio runtime that
/// creates the pod's sockets and runs its resolver; it ends when this is dropped.
pub struct PodNetwork {
    netns: PathBuf,
    runtime: tokio::runtime::Handle,
    /// Used only on `runtime` (its sockets must be created in the namespace).
    resolver: Arc<TokioResolver>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for PodNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PodNetwork({})", self.netns.display())
    }
}

impl PodNetwork {
    fn start(netns: &Path, names: &NameFiles) -> io::Result<Self> {
        let namespace = Arc::new(File::open(netns)?);
        let (config, options) = resolver_config(names.resolv_conf.as_deref())?;
        let hosts = hosts(names.hosts.as_deref())?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread_namespace = namespace.clone();
        std::thread::Builder::new()
            .name("pod-network".into())
            .spawn(move || {
                let started = (|| {
                    join(&thread_namespace)?;
                    let for_blocking = thread_namespace.clone();
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        // Its blocking threads (should anything resolve through the
                        // system) join the namespace too.
                        .on_thread_start(move || {
                            if let Err(e) = join(&for_blocking) {
                                tracing::error!("pod network: blocking thread: {e}");
                            }
                        })
                        .build()?;
                    let resolver = {
                        let _entered = runtime.enter();
                        let mut resolver = TokioResolver::builder_with_config(
                            config,
                            TokioRuntimeProvider::default(),
                        )
                        .with_options(options)
                        .build()
                        .map_err(io::Error::other)?;
                        resolver.set_hosts(Arc::new(hosts));
                        resolver
                    };
                    Ok::<_, io::Error>((runtime, resolver))
                })();
                match started {
                    Ok((runtime, resolver)) => {
                        let _ = ready_tx.send(Ok((runtime.handle().clone(), resolver)));
                        // Serves spawned work until the network is dropped.
                        let _ = runtime.block_on(stopped);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        let (runtime, resolver) = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the pod network thread ended while starting"))??;
        Ok(Self {
            netns: netns.to_path_buf(),
            runtime,
            resolver: Arc::new(resolver),
            _stop: stop,
        })
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let resolver = self.resolver.clone();
        let name = host.to_string();
        let found = self
            .run(async move { resolver.lookup_ip(name).await })
            .await?
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("cannot resolve {host} in the pod's network: {e}"),
                )
            })?;
        Ok(found.iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }

    async fn run<F>(&self, work: F) -> io::Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut task = AbortOnDrop(self.runtime.spawn(work));
        match (&mut task.0).await {
            Ok(output) => Ok(output),
            Err(e) => Err(io::Error::other(format!("pod network: {e}"))),
        }
    }
}

/// Stops the spawned work when its caller gives up (a timeout, a dropped request).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Moves the calling thread into the network namespace.
fn join(namespace: &File) -> io::Result<()> {
    nix::sched::setns(namespace, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Reads a pod's hosts or resolver file: it comes from the pod's mounts, so it is opened
/// only if it is a regular file (a FIFO there would hang the read, a device never end).
fn read_name_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    crate::content::open_regular(path)
        .map_err(io::Error::other)?
        .take(MAX_NAME_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(bytes)
}

/// The resolver settings of `resolv.conf` (the node's without one). A file without a
/// name server leaves a resolver that finds only what the hosts file names.
fn resolver_config(resolv_conf: Option<&Path>) -> io::Result<(ResolverConfig, ResolverOpts)> {
    let path = resolv_conf.unwrap_or(Path::new("/etc/resolv.conf"));
    let parsed = match read_name_file(path) {
        Ok(bytes) => hickory_resolver::system_conf::parse_resolv_conf(bytes).map_err(|e| {
            tracing::warn!(
                "{}: no usable name server ({e}); only hosts entries resolve",
                path.display()
            );
        }),
        Err(e) => {
            tracing::warn!("{}: {e}; only hosts entries resolve", path.display());
            Err(())
        }
    };
    let (config, mut options) = parsed.unwrap_or_else(|()| {
        (
            ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
            ResolverOpts::default(),
        )
    });
    // The hosts file is the pod's (set on the resolver), never the node's.
    options.use_hosts_file = ResolveHosts::Never;
    Ok((config, options))
}

/// The entries of the pod's hosts file (the node's without one).
fn hosts(path: Option<&Path>) -> io::Result<Hosts> {
    let path = path.unwrap_or(Path::new("/etc/hosts"));
    let mut hosts = Hosts::default();
    match read_name_file(path) {
        Ok(bytes) => hosts.read_hosts_conf(&bytes[..])?,
        Err(e) => tracing::warn!("{}: {e}; no hosts entries", path.display()),
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_in_place_of_the_name_files_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("hosts");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let refused = read_name_file(&fifo).unwrap_err();
        assert!(
            refused.to_string().contains("is not a regular file"),
            "{refused}"
        );
        // Start-up goes on without them.
        assert!(hosts(Some(&fifo)).is_ok());
        let (config, _) = resolver_config(Some(&fifo)).unwrap();
        assert!(config.name_servers().is_empty());
    }

    #[test]
    fn resolv_conf_gives_servers_search_and_ndots() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("resolv.conf");
        std::fs::write(
            &file,
            "search default.svc.cluster.local svc.cluster.local cluster.local\n\
             nameserver 10.96.0.10\noptions ndots:5\n",
        )
        .unwrap();
        let (config, options) = resolver_config(Some(&file)).unwrap();
        assert_eq!(config.name_servers().len(), 1);
        assert_eq!(config.search().len(), 3);
        assert_eq!(options.ndots, 5);
        assert_eq!(options.use_hosts_file, ResolveHosts::Never);

        // No name server: only hosts entries resolve, start-up goes on.
        std::fs::write(&file, "search cluster.local\n").unwrap();
        let (config, _) = resolver_config(Some(&file)).unwrap();
        assert!(config.name_servers().is_empty());
    }

    #[tokio::test]
    async fn ip_literals_resolve_to_themselves() {
        let network = Network::Process;
        assert_eq!(
            network.resolve("[::1]", 80).await.unwrap(),
            vec!["[::1]:80".parse().unwrap()]
        );
        assert_eq!(
            network.resolve("127.0.0.1", 6379).await.unwrap(),
            vec!["127.0.0.1:6379".parse().unwrap()]
        );
    }
}
