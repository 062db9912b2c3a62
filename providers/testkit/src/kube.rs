//! The one kube-test-server launcher of the workspace (feature `kube`): an in-process local
//! Kubernetes API server on a free loopback port, with a private directory holding its
//! kubeconfig, and the real `kubectl` when a test wants it.
//!
//! kubectl comes from `KUBECTL`, else `PATH`; a missing one fails the test with what to
//! install (tests never skip silently).

use std::path::{Path, PathBuf};
use std::process::Command;

pub use kube_test_server::{FaultKind, FaultRule, Knobs, TestServer, Verb};

/// Starts a kube-test-server with default knobs on a free loopback port. It runs on its own
/// thread and runtime (so plain and async tests can use it) and stops when dropped.
pub fn server() -> TestServer {
    kube_test_server::spawn_for_tests()
}

/// `KUBECTL`, else `kubectl` on `PATH`; panics with instructions when there is none.
#[track_caller]
pub fn kubectl_binary() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECTL").filter(|k| !k.is_empty()) {
        let k = PathBuf::from(k);
        assert!(k.is_file(), "KUBECTL={} does not exist", k.display());
        return k;
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("kubectl")).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "kubectl not found: install it (Debian: apt-get install kubernetes-client; scripts/test.sh and \
                 .ci/run need it) or set KUBECTL to its path; these tests drive the real kubectl and are not \
                 skipped without it"
            )
        })
}

/// A kube-test-server plus a private directory with its kubeconfig, so kubectl (or any client)
/// reads nothing from the machine's `~/.kube`.
pub struct Cluster {
    pub server: TestServer,
    kubectl: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts the server and writes its kubeconfig; no kubectl needed.
    pub fn start() -> Cluster {
        Self::launch(None)
    }

    /// Like [`Cluster::start`], and checks first that kubectl exists (failing the test if not).
    #[track_caller]
    pub fn with_kubectl() -> Cluster {
        let kubectl = kubectl_binary();
        Self::launch(Some(kubectl))
    }

    fn launch(kubectl: Option<PathBuf>) -> Cluster {
        let server = server();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("kubeconfig"), server.kubeconfig()).expect("write kubeconfig");
        Cluster { server, kubectl, dir }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// The server's live fault and latency knobs.
    pub fn knobs(&self) -> &Knobs {
        self.server.knobs()
    }

    /// The cluster's private directory (holds `kubeconfig`; kubectl's HOME and cache).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The kubeconfig file pointing at the server.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// A kubectl command against the server: `--server`, a private kubeconfig, HOME and
    /// discovery cache. Panics when the cluster was started without kubectl.
    #[track_caller]
    pub fn kubectl_command(&self) -> Command {
        let bin = self.kubectl.as_ref().expect("start the cluster with Cluster::with_kubectl to run kubectl");
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--server={}", self.url()))
            .arg(format!("--cache-dir={}", self.dir.path().join("cache").display()))
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .env_remove("KUBERNETES_SERVICE_HOST");
        cmd
    }
}
