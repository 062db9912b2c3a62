//! The crate's error type (configuration problems) and the mapping of every failure into the
//! engine's [`ProviderError`] classes.

use std::time::Duration;

use strata_sdk::{ErrorClass, ProviderError};

/// Everything that can go wrong before the first request: resolving `providers.kubernetes`
/// into a cluster URL and credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `server` is not an `http://` or `https://` URL with a host.
    #[error("providers.kubernetes.server `{server}` is not a valid URL: {reason}")]
    InvalidServer { server: String, reason: String },

    /// The project or environment name cannot be written as a label value (at most 63
    /// characters of letters, digits, `-`, `_`, `.`, starting and ending alphanumeric).
    #[error("the {what} name {value:?} cannot be a Kubernetes label value: {reason}")]
    InvalidMark { what: &'static str, value: String, reason: String },

    /// `field_manager` is empty.
    #[error("providers.kubernetes.field_manager must not be empty")]
    EmptyFieldManager,

    /// A kubeconfig file exists but cannot be read or parsed.
    #[error("cannot load kubeconfig {path}: {source}")]
    KubeconfigRead {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },

    /// `kubeconfig` names a file that does not exist.
    #[error("providers.kubernetes.kubeconfig {path} does not exist")]
    KubeconfigNotFound { path: String },

    /// `context` is set, but there is no kubeconfig to find it in.
    #[error("providers.kubernetes.context is `{context}` but no kubeconfig was found (looked at {looked})")]
    KubeconfigMissing { context: String, looked: String },

    /// No kubeconfig, no `server`, and not running inside a cluster.
    #[error(
        "no Kubernetes configuration: no kubeconfig (looked at {looked}), no providers.kubernetes.server, and not inside a cluster ({in_cluster})"
    )]
    NoConfig { looked: String, in_cluster: String },

    /// `context` is not one of the kubeconfig's contexts.
    #[error("context `{context}` not found in kubeconfig {path}; available contexts: {}", list(available))]
    ContextNotFound { context: String, path: String, available: Vec<String> },

    /// No `context` is configured and the kubeconfig has no `current-context`.
    #[error(
        "kubeconfig {path} has no current-context; set providers.kubernetes.context to one of: {}",
        list(available)
    )]
    NoCurrentContext { path: String, available: Vec<String> },

    /// The selected context cannot be used (its cluster or user is missing, a certificate
    /// cannot be loaded, ...).
    #[error("cannot use context `{context}` of kubeconfig {path}: {source}")]
    Kubeconfig {
        context: String,
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },

    /// Running without a kubeconfig inside a cluster, but the service account cannot be read.
    #[error("cannot load the in-cluster configuration: {0}")]
    InCluster(#[source] kube::config::InClusterError),

    /// The HTTP client cannot be built from the configuration (TLS or proxy setup).
    #[error("cannot build the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "(none)".to_string() } else { items.join(", ") }
}

impl Error {
    /// The engine's class for a configuration error: missing credentials are `Auth`, the rest
    /// `Invalid` (retrying cannot help either way).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::KubeconfigMissing { .. } | Error::NoConfig { .. } | Error::InCluster(_) => ErrorClass::Auth,
            _ => ErrorClass::Invalid,
        }
    }
}

impl From<Error> for ProviderError {
    fn from(e: Error) -> Self {
        ProviderError::new(e.class(), e.to_string())
    }
}

impl From<&Error> for ProviderError {
    fn from(e: &Error) -> Self {
        ProviderError::new(e.class(), e.to_string())
    }
}

/// The hint added to server-side apply conflicts (the CLI has no `--force-conflicts` flag: the
/// setting is in the spec).
pub const FORCE_CONFLICTS_HINT: &str = "another field manager applies these fields; re-run with `--force-conflicts` (or set `providers.kubernetes.force_conflicts: true` in the spec) to take them over";

/// Classifies a Kubernetes status reason when the HTTP code is missing.
fn class_of_reason(reason: &str) -> Option<ErrorClass> {
    Some(match reason {
        "TooManyRequests" | "ServerTimeout" | "Timeout" | "ServiceUnavailable" | "InternalError" => {
            ErrorClass::Retryable
        }
        "Conflict" | "AlreadyExists" => ErrorClass::Conflict,
        "NotFound" | "Gone" | "Expired" => ErrorClass::NotFound,
        "Unauthorized" | "Forbidden" => ErrorClass::Auth,
        "Invalid"
        | "BadRequest"
        | "MethodNotAllowed"
        | "NotAcceptable"
        | "UnsupportedMediaType"
        | "RequestEntityTooLarge" => ErrorClass::Invalid,
        _ => return None,
    })
}

/// Maps a kube-rs error into the engine's classes:
///
/// * API errors by HTTP code (429/5xx retryable, 409 conflict, 404/410 not found, 401/403
///   auth, other 4xx invalid), falling back to the status `reason` when the code is missing;
///   the server's message is kept, and `details.retryAfterSeconds` (which the client fills in
///   from a `Retry-After` header, see [`crate::client`]) becomes `retry_after`;
/// * connection, timeout and transport errors retryable, except TLS certificate problems;
/// * client-side auth failures (exec plugins, token files) auth;
/// * anything else other.
pub fn classify(err: &kube::Error) -> ProviderError {
    match err {
        kube::Error::Api(status) => {
            let message = if status.message.is_empty() {
                match (status.code, status.reason.as_str()) {
                    (0, "") => "the API server returned an error without a message".to_string(),
                    (code, "") => format!("the API server answered HTTP {code}"),
                    (0, reason) => reason.to_string(),
                    (code, reason) => format!("{reason} (HTTP {code})"),
                }
            } else {
                status.message.clone()
            };
            let mut e = if status.code != 0 {
                ProviderError::from_http_status(status.code, message)
            } else {
                let class = class_of_reason(&status.reason).unwrap_or(ErrorClass::Other);
                ProviderError::new(class, message)
            };
            if let Some(d) = &status.details
                && d.retry_after_seconds > 0
            {
                e = e.with_retry_after(Duration::from_secs(u64::from(d.retry_after_seconds)));
            }
            e
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            let chain = error_chain(err);
            let lower = chain.to_ascii_lowercase();
            if lower.contains("certificate") || lower.contains("invalidcert") {
                ProviderError::other(format!("TLS error talking to the API server: {chain}"))
            } else {
                ProviderError::retryable(format!("cannot reach the API server: {chain}"))
            }
        }
        kube::Error::Auth(_) => ProviderError::auth(error_chain(err)),
        kube::Error::BuildRequest(_) | kube::Error::Discovery(_) => ProviderError::invalid(error_chain(err)),
        kube::Error::InferConfig(_) | kube::Error::InferKubeconfig(_) => ProviderError::auth(error_chain(err)),
        _ => ProviderError::other(error_chain(err)),
    }
}

/// `outer: inner: innermost`, skipping repeats (kube errors often include their source).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// True when a kube error is a 409 from server-side apply naming conflicting field managers.
pub fn is_apply_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 409 || (s.code == 0 && s.reason == "Conflict"))
}

/// One field manager named by a server-side apply conflict (`details.causes` of the 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictingManager {
    /// The manager's name (`kubectl-edit`, `helm`).
    pub manager: String,
    /// True when the manager wrote with an `Update` operation (create, PUT, PATCH, scale:
    /// `kubectl edit/patch/scale/create`, a controller), false for an `Apply` (server-side apply,
    /// another declarative tool). The apiserver names updaters `"m" using v1` (`"m" with
    /// subresource "scale" using autoscaling/v1`) and appliers `"m"` (`"m" with subresource "s"`).
    pub update: bool,
}

/// The managers a server-side apply conflict names, from the causes of type
/// `FieldManagerConflict` (`message: conflict with "kubectl-edit" using v1`). Empty for other
/// errors, or when the server gave no such causes.
pub fn conflicting_managers(err: &kube::Error) -> Vec<ConflictingManager> {
    let kube::Error::Api(status) = err else { return Vec::new() };
    if !is_apply_conflict(err) {
        return Vec::new();
    }
    let mut out: Vec<ConflictingManager> = Vec::new();
    for cause in status.details.iter().flat_map(|d| &d.causes) {
        if cause.reason != "FieldManagerConflict" {
            continue;
        }
        let Some(m) = parse_conflict_cause(&cause.message) else { continue };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// Parses `conflict with "NAME"REST` (NAME Go-quoted), REST holding ` using ` for updaters.
fn parse_conflict_cause(message: &str) -> Option<ConflictingManager> {
    let quoted = message.strip_prefix("conflict with \"")?;
    let mut manager = String::new();
    let mut chars = quoted.char_indices();
    let rest = loop {
        match chars.next()? {
            (_, '\\') => manager.push(chars.next()?.1),
            (i, '"') => break &quoted[i + 1..],
            (_, c) => manager.push(c),
        }
    };
    Some(ConflictingManager { manager, update: rest.contains(" using ") })
}

/// True when a server-side apply conflict is only with managers that changed the fields by
/// `Update` (imperative edits such as `kubectl edit`, `kubectl patch`, `kubectl scale`): drift
/// of fields strata applies, which an apply restores by taking them back. False when any
/// conflicting manager is another applier (or the server named none).
pub fn conflicts_only_with_updaters(err: &kube::Error) -> bool {
    let managers = conflicting_managers(err);
    !managers.is_empty() && managers.iter().all(|m| m.update)
}

/// Classifies an apply error; a conflict keeps the server's message (which names the other
/// manager and the fields, e.g. `conflict with "kubectl-client-side-apply": .data.key`) and
/// adds the [`FORCE_CONFLICTS_HINT`].
pub fn classify_apply(err: &kube::Error) -> ProviderError {
    let mut e = classify(err);
    if is_apply_conflict(err) {
        e.class = ErrorClass::Conflict;
        e.message = format!("{}; {FORCE_CONFLICTS_HINT}", e.message);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::core::response::StatusDetails;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    #[test]
    fn classifies_api_errors_by_code() {
        let cases = [
            (429, "TooManyRequests", ErrorClass::Retryable),
            (500, "InternalError", ErrorClass::Retryable),
            (503, "ServiceUnavailable", ErrorClass::Retryable),
            (504, "Timeout", ErrorClass::Retryable),
            (409, "Conflict", ErrorClass::Conflict),
            (404, "NotFound", ErrorClass::NotFound),
            (410, "Expired", ErrorClass::NotFound),
            (401, "Unauthorized", ErrorClass::Auth),
            (403, "Forbidden", ErrorClass::Auth),
            (422, "Invalid", ErrorClass::Invalid),
            (400, "BadRequest", ErrorClass::Invalid),
        ];
        for (code, reason, class) in cases {
            let e = classify(&api(code, reason, "boom"));
            assert_eq!(e.class, class, "{code}");
            assert_eq!(e.message, "boom");
            assert_eq!(e.retry_after, None);
        }
    }

    #[test]
    fn falls_back_to_reason_without_code() {
        assert_eq!(classify(&api(0, "TooManyRequests", "x")).class, ErrorClass::Retryable);
        assert_eq!(classify(&api(0, "Forbidden", "x")).class, ErrorClass::Auth);
        assert_eq!(classify(&api(0, "Weird", "x")).class, ErrorClass::Other);
        assert_eq!(classify(&api(503, "", "")).message, "the API server answered HTTP 503");
    }

    #[test]
    fn honours_retry_after() {
        let mut s = Status::failure("too many requests, please try again later", "TooManyRequests").with_code(429);
        s.details = Some(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: vec![],
            retry_after_seconds: 7,
        });
        let e = classify(&kube::Error::Api(s.boxed()));
        assert!(e.is_retryable());
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn conflicts_name_the_manager_and_suggest_force() {
        let msg = r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .data.key"#;
        let e = classify_apply(&api(409, "Conflict", msg));
        assert_eq!(e.class, ErrorClass::Conflict);
        assert!(e.message.contains(r#"conflict with "kubectl-client-side-apply" using v1: .data.key"#));
        assert!(e.message.contains("providers.kubernetes.force_conflicts: true"), "{}", e.message);
        // other errors pass through unchanged
        let e = classify_apply(&api(422, "Invalid", "bad"));
        assert_eq!((e.class, e.message.as_str()), (ErrorClass::Invalid, "bad"));
    }

    fn conflict(causes: &[&str]) -> kube::Error {
        let mut s = Status::failure("Apply failed", "Conflict").with_code(409);
        s.details = Some(StatusDetails {
            name: "web".into(),
            group: String::new(),
            kind: "configmaps".into(),
            uid: String::new(),
            causes: causes
                .iter()
                .map(|m| kube::core::response::StatusCause {
                    reason: "FieldManagerConflict".into(),
                    message: m.to_string(),
                    field: ".data.key".into(),
                })
                .collect(),
            retry_after_seconds: 0,
        });
        kube::Error::Api(s.boxed())
    }

    #[test]
    fn tells_updaters_from_appliers_in_conflicts() {
        let e = conflict(&[r#"conflict with "kubectl-edit" using v1"#, r#"conflict with "kubectl-edit" using v1"#]);
        assert_eq!(conflicting_managers(&e), vec![ConflictingManager { manager: "kubectl-edit".into(), update: true }]);
        assert!(conflicts_only_with_updaters(&e));
        let e = conflict(&[r#"conflict with "hpa" with subresource "scale" using autoscaling/v1"#]);
        assert!(conflicts_only_with_updaters(&e));
        let e = conflict(&[r#"conflict with "kubectl" using apps/v1"#, r#"conflict with "team-\"b\" using x""#]);
        assert_eq!(
            conflicting_managers(&e)[1],
            ConflictingManager { manager: r#"team-"b" using x"#.into(), update: false }
        );
        assert!(!conflicts_only_with_updaters(&e), "an applier among them");
        assert!(!conflicts_only_with_updaters(&conflict(&[])), "no causes: not known to be drift");
        assert!(!conflicts_only_with_updaters(&api(422, "Invalid", "bad")));
    }

    #[test]
    fn transport_errors_are_retryable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = classify(&kube::Error::Service(Box::new(io)));
        assert!(e.is_retryable());
        assert!(e.message.contains("connection refused"));
        let tls = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        assert_eq!(classify(&kube::Error::Service(Box::new(tls))).class, ErrorClass::Other);
    }

    #[test]
    fn config_errors_map_to_provider_errors() {
        let e: ProviderError = Error::ContextNotFound {
            context: "prod".into(),
            path: "/home/u/.kube/config".into(),
            available: vec!["kind-dev".into(), "staging".into()],
        }
        .into();
        assert_eq!(e.class, ErrorClass::Invalid);
        assert_eq!(
            e.message,
            "context `prod` not found in kubeconfig /home/u/.kube/config; available contexts: kind-dev, staging"
        );
        let e: ProviderError = Error::NoConfig {
            looked: "~/.kube/config".into(),
            in_cluster: "KUBERNETES_SERVICE_HOST is not set".into(),
        }
        .into();
        assert_eq!(e.class, ErrorClass::Auth);
    }
}
