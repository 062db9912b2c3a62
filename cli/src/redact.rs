//! Keeps secrets out of everything strata prints or writes besides state: plans, JSON output,
//! logs, error messages. Two mechanisms: attribute paths a provider declares sensitive are
//! masked in diffs, and every value that came from a secret environment variable is replaced
//! wherever it appears in a string (so a provider error echoing a token is still safe).

use serde_json::Value;
use strata_sdk::value::SENSITIVE;

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
    fn redacts_strings_and_values() {
        let r = Redactor::new(vec!["hunter22".into()]);
        assert_eq!(r.redact_str("auth failed for token hunter22"), format!("auth failed for token {SENSITIVE}"));
        let mut v = serde_json::json!({"a": "Bearer hunter22", "b": ["x"]});
        r.redact_value(&mut v);
        assert_eq!(v, serde_json::json!({"a": SENSITIVE, "b": ["x"]}));
    }
}
