//! `providers.kubernetes`: how strata finds the cluster, and the resolution of that section into
//! a kube-rs [`kube::Config`] (kubeconfig + context, in-cluster service account, or a plain
//! server URL).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;

/// The `providers.kubernetes` section of a spec.
///
/// ```yaml
/// providers:
///   kubernetes:
///     context: prod-eu          # kubeconfig context (default: the current-context)
///     kubeconfig: ~/.kube/prod  # default: $KUBECONFIG, then ~/.kube/config
///     namespace: apex           # namespace for namespaced objects that name none
///     force_conflicts: false    # take over fields other appliers own
///     field_manager: strata     # server-side apply field manager
///     delete_timeout: 5m        # how long a delete waits for the object to be gone
/// ```
///
/// Where the cluster is, in order: `server` (a bare URL without credentials, for tests and
/// `kubectl proxy`; plain `http://` allowed), else a kubeconfig (`kubeconfig`, `$KUBECONFIG`,
/// `~/.kube/config`) with `context` or its current-context, else the in-cluster service account
/// (strata running as a CronJob).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// The kubeconfig context to use; default: the kubeconfig's current-context.
    pub context: Option<String>,
    /// Path of the kubeconfig file; `~/` is expanded. Default: `$KUBECONFIG`, then
    /// `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// API server URL used directly, without a kubeconfig or credentials.
    pub server: Option<String>,
    /// Namespace for namespaced objects whose manifest has no `metadata.namespace`. Default:
    /// the context's namespace, else `default`.
    pub namespace: Option<String>,
    /// Apply with `force=true`: take over fields other appliers own instead of failing with a
    /// conflict. (Fields changed by `Update` writers such as `kubectl edit` are drift and are
    /// taken back without it.)
    pub force_conflicts: bool,
    /// The server-side apply field manager.
    pub field_manager: String,
    /// How long a delete waits for the object to disappear (finalizers, foreground deletion of
    /// dependents). Seconds as a number, or a string like `90s`, `5m`, `1h`.
    #[serde(deserialize_with = "deserialize_duration", serialize_with = "serialize_duration")]
    #[schemars(with = "DurationSetting")]
    pub delete_timeout: Duration,
}

/// The default field manager.
pub const DEFAULT_FIELD_MANAGER: &str = "strata";
/// The default `delete_timeout`.
pub const DEFAULT_DELETE_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            context: None,
            kubeconfig: None,
            server: None,
            namespace: None,
            force_conflicts: false,
            field_manager: DEFAULT_FIELD_MANAGER.to_string(),
            delete_timeout: DEFAULT_DELETE_TIMEOUT,
        }
    }
}

impl KubernetesConfig {
    /// A config talking to `server` directly (tests, `kubectl proxy`).
    pub fn for_server(server: impl Into<String>) -> Self {
        KubernetesConfig { server: Some(server.into()), ..Self::default() }
    }

    /// Offline checks made by the provider constructor.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.field_manager.trim().is_empty() {
            return Err(Error::EmptyFieldManager);
        }
        if let Some(server) = &self.server {
            parse_server(server)?;
        }
        Ok(())
    }
}

/// The longest `delete_timeout`: 87600h (10 years), the longest duration a spec may hold.
pub const MAX_DELETE_TIMEOUT: Duration = Duration::from_secs(3650 * 86_400);

/// Parses a duration: a number of seconds, or `500ms`, `90s`, `5m`, `1h`, `1m30s`, at most
/// [`MAX_DELETE_TIMEOUT`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let in_range = |d: Option<Duration>| {
        d.filter(|d| *d <= MAX_DELETE_TIMEOUT)
            .ok_or_else(|| format!("duration {s:?} is out of range: it can be at most 87600h (10 years)"))
    };
    if let Ok(secs) = s.parse::<u64>() {
        return in_range(Some(Duration::from_secs(secs)));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("duration {s:?} lacks a unit (ms, s, m, h)"))?;
        if digits == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            u => {
                return Err(format!("unknown unit {u:?} in duration {s:?} (ms, s, m, h)"));
            }
        };
        total = in_range(unit.and_then(|u| total.checked_add(u)))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// What `delete_timeout` accepts, for the settings schema: seconds, or a duration string.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum DurationSetting {
    Secs(u64),
    /// Like `90s`, `5m`, `1h`.
    Text(String),
}

fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Secs(s) => s.to_string(),
        Raw::Text(t) => t,
    };
    // serde names no field in a custom error: say which one.
    parse_duration(&text).map_err(|e| serde::de::Error::custom(format!("delete_timeout: {e}")))
}

fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    if d.subsec_millis() == 0 {
        s.serialize_str(&format!("{}s", d.as_secs()))
    } else {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }
}

fn parse_server(server: &str) -> Result<http::Uri, Error> {
    let invalid = |reason: &str| Error::InvalidServer { server: server.to_string(), reason: reason.to_string() };
    let uri: http::Uri = server.parse().map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(invalid("the scheme must be http or https")),
    }
    if uri.host().is_none() {
        return Err(invalid("it has no host"));
    }
    Ok(uri)
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn expand_tilde(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => p.to_path_buf(),
    }
}

/// The kubeconfig files to consider: the configured one, else `$KUBECONFIG`'s list, else
/// `~/.kube/config`.
fn kubeconfig_candidates(config: &KubernetesConfig) -> Vec<PathBuf> {
    if let Some(p) = &config.kubeconfig {
        return vec![expand_tilde(p)];
    }
    if let Some(v) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    home_dir().map(|h| vec![h.join(".kube").join("config")]).unwrap_or_default()
}

fn show_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "no path: HOME and KUBECONFIG are unset".into();
    }
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Resolves the section into a kube-rs config. Reads files, no network.
pub(crate) async fn resolve(config: &KubernetesConfig) -> Result<kube::Config, Error> {
    let mut kc = if let Some(server) = &config.server {
        kube::Config::new(parse_server(server)?)
    } else {
        let candidates = kubeconfig_candidates(config);
        let existing: Vec<&PathBuf> = candidates.iter().filter(|p| p.exists()).collect();
        if existing.is_empty() {
            if config.kubeconfig.is_some() {
                return Err(Error::KubeconfigNotFound { path: show_paths(&candidates) });
            }
            if let Some(context) = &config.context {
                return Err(Error::KubeconfigMissing { context: context.clone(), looked: show_paths(&candidates) });
            }
            if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
                return Err(Error::NoConfig {
                    looked: show_paths(&candidates),
                    in_cluster: "KUBERNETES_SERVICE_HOST is not set".into(),
                });
            }
            kube::Config::incluster().map_err(Error::InCluster)?
        } else {
            from_kubeconfig(config, &existing).await?
        }
    };
    if let Some(ns) = &config.namespace {
        kc.default_namespace = ns.clone();
    }
    // The engine retries with its own backoff and honours Retry-After; kube's built-in retry
    // (up to 15 attempts) would hide throttling from it.
    kc.default_retry = false;
    if kc.read_timeout.is_none() {
        kc.read_timeout = Some(Duration::from_secs(120));
    }
    Ok(kc)
}

async fn from_kubeconfig(config: &KubernetesConfig, paths: &[&PathBuf]) -> Result<kube::Config, Error> {
    let shown = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let mut merged: Option<Kubeconfig> = None;
    for p in paths {
        let one = Kubeconfig::read_from(p)
            .map_err(|source| Error::KubeconfigRead { path: p.display().to_string(), source })?;
        merged = Some(match merged {
            None => one,
            Some(m) => m.merge(one).map_err(|source| Error::KubeconfigRead { path: shown.clone(), source })?,
        });
    }
    let kubeconfig = merged.unwrap_or_default();
    let available: Vec<String> = kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
    let context = match (&config.context, &kubeconfig.current_context) {
        (Some(c), _) => {
            if !available.contains(c) {
                return Err(Error::ContextNotFound { context: c.clone(), path: shown, available });
            }
            c.clone()
        }
        (None, Some(c)) if !c.is_empty() => c.clone(),
        (None, _) => {
            return Err(Error::NoCurrentContext { path: shown, available });
        }
    };
    let options = KubeConfigOptions { context: Some(context.clone()), cluster: None, user: None };
    kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|source| Error::Kubeconfig {
        context,
        path: shown,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn durations_out_of_range_are_errors_not_panics() {
        for text in ["18446744073709551615s1s", "9999999999999999h", "18446744073709551615", "87601h"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
        assert_eq!(parse_duration("87600h").unwrap(), MAX_DELETE_TIMEOUT);
        assert!(serde_json::from_value::<KubernetesConfig>(serde_json::json!({"delete_timeout": u64::MAX})).is_err());
    }

    #[test]
    fn deserializes_the_section() {
        let c: KubernetesConfig =
            serde_yaml::from_str("context: prod\nnamespace: apex\nforce_conflicts: true\ndelete_timeout: 2m\n")
                .unwrap();
        assert_eq!(c.context.as_deref(), Some("prod"));
        assert_eq!(c.field_manager, "strata");
        assert!(c.force_conflicts);
        assert_eq!(c.delete_timeout, Duration::from_secs(120));
        let c: KubernetesConfig = serde_yaml::from_str("delete_timeout: 30\n").unwrap();
        assert_eq!(c.delete_timeout, Duration::from_secs(30));
        let d = KubernetesConfig::default();
        assert_eq!(d.delete_timeout, DEFAULT_DELETE_TIMEOUT);
        assert!(serde_yaml::from_str::<KubernetesConfig>("contxt: prod\n").is_err());
        let round: KubernetesConfig = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
        assert_eq!(round, d);
    }

    #[test]
    fn checks_server_urls() {
        assert!(KubernetesConfig::for_server("http://127.0.0.1:8080").check().is_ok());
        assert!(KubernetesConfig::for_server("https://k8s.example:6443").check().is_ok());
        let e = KubernetesConfig::for_server("ftp://x").check().unwrap_err();
        assert!(e.to_string().contains("scheme"), "{e}");
        assert!(KubernetesConfig::for_server("not a url").check().is_err());
        let e = KubernetesConfig { field_manager: " ".into(), ..Default::default() }.check().unwrap_err();
        assert!(matches!(e, Error::EmptyFieldManager));
    }

    const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev
  cluster: {server: "http://127.0.0.1:1"}
contexts:
- name: dev
  context: {cluster: dev, user: dev, namespace: team}
- name: staging
  context: {cluster: dev, user: dev}
users:
- name: dev
  user: {token: abc}
"#;

    fn write_kubeconfig(dir: &Path) -> PathBuf {
        let p = dir.join("config");
        std::fs::write(&p, KUBECONFIG).unwrap();
        p
    }

    #[tokio::test]
    async fn resolves_kubeconfig_contexts() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path());
        let mut c = KubernetesConfig { kubeconfig: Some(path.clone()), ..Default::default() };
        let kc = resolve(&c).await.unwrap();
        assert_eq!(kc.cluster_url.to_string(), "http://127.0.0.1:1/");
        assert_eq!(kc.default_namespace, "team");
        assert!(!kc.default_retry);

        c.context = Some("staging".into());
        c.namespace = Some("apex".into());
        let kc = resolve(&c).await.unwrap();
        assert_eq!(kc.default_namespace, "apex");

        c.context = Some("prod".into());
        let e = resolve(&c).await.unwrap_err();
        assert!(matches!(e, Error::ContextNotFound { .. }));
        let msg = e.to_string();
        assert!(msg.contains("context `prod` not found"), "{msg}");
        assert!(msg.contains("available contexts: dev, staging"), "{msg}");

        let missing = KubernetesConfig { kubeconfig: Some(dir.path().join("nope")), ..Default::default() };
        assert!(matches!(resolve(&missing).await.unwrap_err(), Error::KubeconfigNotFound { .. }));
    }

    #[tokio::test]
    async fn resolves_a_plain_server() {
        let c =
            KubernetesConfig { namespace: Some("apex".into()), ..KubernetesConfig::for_server("http://127.0.0.1:9") };
        let kc = resolve(&c).await.unwrap();
        assert_eq!(kc.cluster_url.to_string(), "http://127.0.0.1:9/");
        assert_eq!(kc.default_namespace, "apex");
    }
}
