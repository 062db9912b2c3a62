//! `strata sandbox up|down|env|status`: the local API servers strata's tests use, started on
//! loopback ports so that a whole platform spec can be planned and applied with no cluster and
//! no cloud account.
//!
//! - Kubernetes: kube-test-server, with every CustomResourceDefinition of the shipped API specs
//!   registered (Istio, Linkerd, Gateway API, Prometheus Operator, OpenTelemetry, VPA, KEDA,
//!   flagd).
//! - Cloudflare: cloudflare-test-server (zone `example.com`), validating every request against
//!   Cloudflare's OpenAPI document.
//! - GCP: gcp-test-server, validating every request against the Compute Engine discovery
//!   document.
//! - AWS (S3, CloudFront, Route 53): moto, when `moto_server` is installed.
//!
//! `up` starts `strata sandbox serve` in the background (its own process group, output in
//! `sandbox.log`) and returns once the servers answer; `serve` writes the `env` file last, so
//! its presence means "ready". `env` prints the file for `eval "$(strata sandbox env)"`; `down`
//! stops the process. The directory is `$STRATA_SANDBOX_DIR`, else
//! `$XDG_STATE_HOME/strata/sandbox` (`~/.local/state/strata/sandbox`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::commands::{CliError, EXIT_OK, Result};

/// The token every sandbox server accepts (they are on loopback only).
pub const TOKEN: &str = "strata-sandbox-token";

/// Where the sandbox keeps its pid, env, kubeconfig and log.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STRATA_SANDBOX_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state.join("strata/sandbox")
}

fn sandbox_error(message: impl Into<String>, help: Option<String>) -> CliError {
    CliError::Sandbox { message: message.into(), help }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> CliError {
    move |source| CliError::Io { context, source }
}

/// The API specs the servers validate against: `--specs`, `STRATA_API_SPECS`, the copy
/// installed next to the binary (`<prefix>/share/strata/api-specs`), or the one in this source
/// tree (`sandbox/api-specs`).
pub fn specs_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(explicit.map(Path::to_path_buf));
    candidates.extend(std::env::var_os("STRATA_API_SPECS").filter(|d| !d.is_empty()).map(PathBuf::from));
    if let Ok(exe) = std::env::current_exe()
        && let Some(prefix) = exe.parent().and_then(Path::parent)
    {
        candidates.push(prefix.join("share/strata/api-specs"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox/api-specs"));
    let found = candidates.iter().find(|c| c.join("gcp/compute.v1.json").is_file()).cloned();
    found.ok_or_else(|| {
        let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
        sandbox_error(
            format!("the API specs the sandbox validates against are not installed (looked in {})", looked.join(", ")),
            Some("run ./install.sh from a strata checkout (it installs them), or pass --specs DIR".into()),
        )
    })
}

/// The pid in `dir/pid`, when that process is alive.
fn running(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join("pid")).ok()?.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

fn alive(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `strata sandbox up`.
pub fn up(specs: Option<&Path>) -> Result<u8> {
    let dir = dir();
    if let Some(pid) = running(&dir) {
        println!("The sandbox is already running (pid {pid}). Load its environment with:");
        println!("  eval \"$(strata sandbox env)\"");
        return Ok(EXIT_OK);
    }
    let specs = specs_dir(specs)?;
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    for stale in ["env", "pid"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    let log_path = dir.join("sandbox.log");
    let log = std::fs::File::create(&log_path).map_err(io(format!("creating {}", log_path.display())))?;
    let err_log = log.try_clone().map_err(io(format!("opening {}", log_path.display())))?;
    let exe = std::env::current_exe().map_err(io("finding the strata binary".into()))?;
    let mut command = std::process::Command::new(exe);
    command.args(["sandbox", "serve", "--specs"]).arg(&specs).stdin(Stdio::null()).stdout(log).stderr(err_log);
    #[cfg(unix)]
    {
        // Its own process group: a Ctrl-C in the shell that ran `up` does not stop it.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(io("starting `strata sandbox serve`".into()))?;
    let started = Instant::now();
    while !dir.join("env").is_file() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(sandbox_error(
                format!("the sandbox stopped while starting ({status}):\n{log}"),
                Some(format!("its log is {}", log_path.display())),
            ));
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            return Err(sandbox_error(
                "the sandbox did not become ready within 120 s",
                Some(format!("its log is {}", log_path.display())),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let env = std::fs::read_to_string(dir.join("env")).map_err(io(format!("reading {}/env", dir.display())))?;
    println!("Sandbox up in {:.1}s (pid {}, log {}):", started.elapsed().as_secs_f64(), child.id(), log_path.display());
    for line in env.lines().filter(|l| l.starts_with("# ")) {
        println!("  {}", &line[2..]);
    }
    println!("Load its environment with:\n  eval \"$(strata sandbox env)\"");
    Ok(EXIT_OK)
}

/// `strata sandbox env`.
pub fn env() -> Result<u8> {
    let dir = dir();
    if running(&dir).is_none() {
        return Err(not_running());
    }
    let env = std::fs::read_to_string(dir.join("env")).map_err(io(format!("reading {}/env", dir.display())))?;
    print!("{env}");
    Ok(EXIT_OK)
}

fn not_running() -> CliError {
    sandbox_error("no sandbox is running", Some("start one with `strata sandbox up`".into()))
}

/// `strata sandbox status`.
pub fn status() -> Result<u8> {
    let dir = dir();
    match running(&dir) {
        Some(pid) => {
            println!("The sandbox is running (pid {pid}, directory {}):", dir.display());
            let env = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
            for line in env.lines().filter(|l| l.starts_with("# ")) {
                println!("  {}", &line[2..]);
            }
        }
        None => println!("No sandbox is running."),
    }
    Ok(EXIT_OK)
}

/// `strata sandbox down`.
pub fn down() -> Result<u8> {
    let dir = dir();
    let Some(pid) = running(&dir) else {
        println!("No sandbox is running.");
        return Ok(EXIT_OK);
    };
    let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let started = Instant::now();
    while alive(pid) {
        if started.elapsed() > Duration::from_secs(15) {
            return Err(sandbox_error(
                format!("the sandbox (pid {pid}) did not stop within 15 s"),
                Some(format!("stop it with `kill -9 {pid}`")),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for file in ["env", "pid", "kubeconfig"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    println!("Sandbox stopped; every object it held is gone.");
    Ok(EXIT_OK)
}

fn free_listener() -> Result<TcpListener> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("binding a loopback port".into()))?;
    l.set_nonblocking(true).map_err(io("configuring a listener".into()))?;
    Ok(l)
}

fn url_of(l: &TcpListener) -> String {
    format!("http://{}", l.local_addr().expect("a bound listener has an address"))
}

/// `strata sandbox serve` (what `up` runs): serves until SIGTERM or Ctrl-C.
pub async fn serve(specs: &Path) -> Result<u8> {
    let dir = dir();
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    // Kubernetes.
    let kube_listener = free_listener()?;
    let kube_url = url_of(&kube_listener);
    let kube = tokio::net::TcpListener::from_std(kube_listener).map_err(io("registering a listener".into()))?;
    tokio::spawn(kube_test_server::serve_with_shutdown(kube, kube_test_server::Knobs::new(), stopped()));

    // Cloudflare.
    let cf_spec = cloudflare_test_server::Spec::load(&specs.join("cloudflare/openapi.json"))
        .map_err(|e| sandbox_error(format!("cannot load Cloudflare's OpenAPI document: {e}"), None))?;
    let cf_config = cloudflare_test_server::ServerConfig {
        token: TOKEN.into(),
        account_id: cloudflare_test_server::DEFAULT_ACCOUNT_ID.into(),
        zones: vec![cloudflare_test_server::DEFAULT_ZONE.into()],
        spec: cf_spec,
    };
    let cf_listener = free_listener()?;
    let cf_url = url_of(&cf_listener);
    let cf = tokio::net::TcpListener::from_std(cf_listener).map_err(io("registering a listener".into()))?;
    tokio::spawn(cloudflare_test_server::serve_with_shutdown(
        cf,
        cf_config,
        cloudflare_test_server::Knobs::default(),
        stopped(),
    ));

    // GCP.
    let discovery = gcp_test_server::Discovery::load(&specs.join("gcp/compute.v1.json"))
        .map_err(|e| sandbox_error(format!("cannot load the Compute Engine discovery document: {e}"), None))?;
    let gcp_knobs = gcp_test_server::Knobs::new();
    gcp_knobs.set_token(TOKEN);
    gcp_knobs.set_operation_delay(Duration::from_millis(200));
    let gcp_listener = free_listener()?;
    let gcp_url = url_of(&gcp_listener);
    let gcp = tokio::net::TcpListener::from_std(gcp_listener).map_err(io("registering a listener".into()))?;
    tokio::spawn(gcp_test_server::serve_with_shutdown(gcp, std::sync::Arc::new(discovery), gcp_knobs, stopped()));

    // Azure (Front Door through ARM, with the identity endpoint for client credentials).
    let azure_spec = azure_test_server::Spec::load(&specs.join(azure_test_server::spec::SPEC_DIR))
        .map_err(|e| sandbox_error(format!("cannot load the Azure Front Door API documents: {e}"), None))?;
    let azure_knobs = azure_test_server::Knobs::new();
    azure_knobs.set_static_token(TOKEN);
    azure_knobs.set_operation_delay(Duration::from_millis(200));
    azure_knobs.set_poll_retry_after(1);
    let azure_listener = free_listener()?;
    let azure_url = url_of(&azure_listener);
    let azure = tokio::net::TcpListener::from_std(azure_listener).map_err(io("registering a listener".into()))?;
    tokio::spawn(azure_test_server::serve_with_shutdown(azure, azure_spec, azure_knobs, stopped()));

    let crds = register_crds(&kube_url, specs).await?;
    let moto = start_moto().await;

    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, kube_test_server::kubeconfig_for(&kube_url))
        .map_err(io(format!("writing {}", kubeconfig.display())))?;
    let mut env = String::new();
    env.push_str(&format!("# kubernetes  {kube_url} ({crds} CustomResourceDefinitions registered)\n"));
    env.push_str(&format!("# cloudflare  {cf_url} (zone {})\n", cloudflare_test_server::DEFAULT_ZONE));
    env.push_str(&format!("# gcp         {gcp_url}/compute/v1\n"));
    env.push_str(&format!("# azure       {azure_url} (Resource Manager and identity)\n"));
    match &moto {
        Ok((url, _)) => env.push_str(&format!("# aws (moto)  {url}\n")),
        Err(why) => env.push_str(&format!("# aws         not started: {why}\n")),
    }
    env.push_str(&format!("export STRATA_SANDBOX={}\n", shell_quote(&dir.display().to_string())));
    env.push_str(&format!("export KUBECONFIG={}\n", shell_quote(&kubeconfig.display().to_string())));
    env.push_str(&format!("export CLOUDFLARE_API_BASE_URL={cf_url}/client/v4\n"));
    env.push_str(&format!("export CLOUDFLARE_API_TOKEN={TOKEN}\n"));
    env.push_str(&format!("export STRATA_GCP_COMPUTE_URL={gcp_url}/compute/v1\n"));
    env.push_str(&format!("export GOOGLE_OAUTH_ACCESS_TOKEN={TOKEN}\n"));
    env.push_str(&format!("export STRATA_AZURE_ARM_URL={azure_url}\n"));
    env.push_str(&format!("export STRATA_AZURE_AUTHORITY_URL={azure_url}\n"));
    env.push_str(&format!("export STRATA_AZURE_TOKEN={TOKEN}\n"));
    if let Ok((url, _)) = &moto {
        env.push_str(&format!("export AWS_ENDPOINT_URL={url}\n"));
        env.push_str("export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1\n");
    }
    std::fs::write(dir.join("pid"), std::process::id().to_string())
        .map_err(io(format!("writing {}/pid", dir.display())))?;
    // Written last, through a rename: its presence is what `up` waits for.
    let tmp = dir.join("env.tmp");
    std::fs::write(&tmp, env).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, dir.join("env")).map_err(io(format!("writing {}/env", dir.display())))?;
    println!("sandbox ready");

    wait_for_stop().await;
    let _ = stop_tx.send(true);
    if let Ok((_, mut child)) = moto {
        let _ = child.kill().await;
    }
    for file in ["env", "pid"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    Ok(EXIT_OK)
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Every `*.yaml` under `specs` (sorted), recursively.
fn yaml_files(specs: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![specs.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Registers every CustomResourceDefinition found in the specs' YAML files; returns how many.
async fn register_crds(kube_url: &str, specs: &Path) -> Result<usize> {
    let http = reqwest::Client::new();
    let mut count = 0;
    for file in yaml_files(specs) {
        let text = std::fs::read_to_string(&file).map_err(io(format!("reading {}", file.display())))?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let Ok(crd) = <Value as serde::Deserialize>::deserialize(doc) else { continue };
            if crd["kind"] != "CustomResourceDefinition" || crd["apiVersion"] != "apiextensions.k8s.io/v1" {
                continue;
            }
            let resp = http
                .post(format!("{kube_url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"))
                .json(&crd)
                .send()
                .await
                .map_err(|e| sandbox_error(format!("kube-test-server did not answer: {e}"), None))?;
            let status = resp.status();
            // 409: the same CRD in two files (a bundle and its parts).
            if !status.is_success() && status.as_u16() != 409 {
                let body = resp.text().await.unwrap_or_default();
                return Err(sandbox_error(
                    format!(
                        "kube-test-server refused the CustomResourceDefinition {} from {}: {status} {body}",
                        crd["metadata"]["name"].as_str().unwrap_or("?"),
                        file.display()
                    ),
                    None,
                ));
            }
            count += usize::from(status.is_success());
        }
    }
    Ok(count)
}

/// `moto_server` from `STRATA_MOTO_SERVER` or `PATH`, on a free port; its URL and process, or
/// why not.
async fn start_moto() -> std::result::Result<(String, tokio::process::Child), String> {
    let binary = std::env::var_os("STRATA_MOTO_SERVER")
        .filter(|m| !m.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH")
                .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("moto_server")).find(|p| p.is_file()))
        })
        .ok_or("moto_server is not installed (pip install 'moto[server]') — S3, CloudFront and Route 53 need it")?;
    let port =
        TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| format!("no free port: {e}"))?.port();
    let child = tokio::process::Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            return Err(format!("{} did not listen within 30 s", binary.display()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((format!("http://127.0.0.1:{port}"), child))
}
