//! Keeps secrets out of everything strata prints or writes besides state: plans, JSON output,
//! logs, error messages. Two mechanisms: attribute paths a provider declares sensitive are
//! masked in diffs, and every value that came from a secret environment variable is replaced
//! wherever it appears in a string (so a provider error echoing a token is still safe).

use serde_json::Value;
use strata_sdk::value::SENSITIVE;

/// Secrets seen by this process (every spec it loaded), for the one place that prints errors:
/// `main` renders errors long after the spec that knew the secrets is gone.
static PROCESS_SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Remembers `secrets` for [`process_redactor`].
pub fn register_process_secrets(secrets: &[String]) {
    let mut all = PROCESS_SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    all.extend(secrets.iter().filter(|s| !s.is_empty()).cloned());
}

/// A redactor for every secret this process has loaded.
pub fn process_redactor() -> Redactor {
    Redactor::new(PROCESS_SECRETS.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(mut secrets: Vec<String>) -> Self {
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn contains_secret(&self, s: &str) -> bool {
        self.secrets.iter().any(|sec| s.contains(sec.as_str()))
    }

    pub fn redact_str(&self, s: &str) -> String {
        let mut out = s.to_string();
        for sec in &self.secrets {
            if out.contains(sec.as_str()) {
                out = out.replace(sec.as_str(), SENSITIVE);
            }
        }
        out
    }

    /// Masks whole strings that contain a secret.
    pub fn redact_value(&self, v: &mut Value) {
        if self.secrets.is_empty() {
            return;
        }
        match v {
            Value::String(s) if self.contains_secret(s) => *s = SENSITIVE.to_string(),
            Value::Array(a) => a.iter_mut().for_each(|c| self.redact_value(c)),
            Value::Object(m) => m.values_mut().for_each(|c| self.redact_value(c)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_redactor_knows_every_registered_secret() {
        register_process_secrets(&["first-s3cret".into(), String::new()]);
        register_process_secrets(&["second-s3cret".into()]);
        let r = process_redactor();
        let msg = r.redact_str("server said: bad token first-s3cret (and second-s3cret)");
        assert_eq!(msg, format!("server said: bad token {SENSITIVE} (and {SENSITIVE})"));
        assert_eq!(r.redact_str("nothing to hide"), "nothing to hide", "an empty secret must not match everywhere");
    }

    #[test]
    fn redacts_strings_and_values() {
        let r = Redactor::new(vec!["hunter22".into()]);
        assert_eq!(r.redact_str("auth failed for token hunter22"), format!("auth failed for token {SENSITIVE}"));
        let mut v = serde_json::json!({"a": "Bearer hunter22", "b": ["x"]});
        r.redact_value(&mut v);
        assert_eq!(v, serde_json::json!({"a": SENSITIVE, "b": ["x"]}));
    }
}
