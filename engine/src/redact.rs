//! Keeps secrets out of everything strata prints or writes besides state: plans, JSON output,
//! logs, error messages. Two mechanisms: attribute paths that are sensitive (declared by the
//! kind, or recorded in state because they held a secret) are masked in documents and diffs,
//! and every value that came from a secret environment variable is replaced wherever it appears
//! in a string (so a provider error echoing a token is still safe).
//!
//! A [`Redactor`] is a value: the loaded `Config` owns one (`Config::redactor`) and whatever
//! prints is handed it. There is no process-wide list of secrets.

use serde_json::Value;
use strata_sdk::value::SENSITIVE;

/// Secrets shorter than this are not redacted from text: a two-letter value would mask every
/// word containing it, and is no secret worth the name.
pub const MIN_SECRET_LEN: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Every form a secret may be printed in (raw, JSON-escaped, Rust-debug-escaped), longest
    /// first so a secret containing another is replaced whole.
    needles: Vec<String>,
    /// The secrets as given (raw), for [`Redactor::secrets`].
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: Vec<String>) -> Self {
        let mut r = Redactor::default();
        r.extend(secrets);
        r
    }

    /// Adds secrets (values shorter than [`MIN_SECRET_LEN`] are ignored).
    pub fn extend(&mut self, secrets: impl IntoIterator<Item = String>) {
        for s in secrets {
            if s.len() < MIN_SECRET_LEN || self.secrets.contains(&s) {
                continue;
            }
            for form in encodings(&s) {
                if form.len() >= MIN_SECRET_LEN && !self.needles.contains(&form) {
                    self.needles.push(form);
                }
            }
            self.secrets.push(s);
        }
        self.needles.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// A copy that also knows `more`.
    pub fn with(&self, more: impl IntoIterator<Item = String>) -> Self {
        let mut r = self.clone();
        r.extend(more);
        r
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The secrets this redactor knows, raw.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Whether `s` holds a secret, in any of the forms strata prints.
    pub fn contains_secret(&self, s: &str) -> bool {
        self.needles.iter().any(|n| s.contains(n.as_str()))
    }

    /// `s` with every secret, in any of the forms strata prints (raw, inside a JSON string,
    /// inside a Rust debug string), replaced by the sensitive placeholder.
    pub fn redact_str(&self, s: &str) -> String {
        let mut out = s.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), SENSITIVE);
            }
        }
        out
    }

    /// Masks whole strings that contain a secret (map keys included: a key holding a secret
    /// keeps its place under a masked name).
    pub fn redact_value(&self, v: &mut Value) {
        if self.needles.is_empty() {
            return;
        }
        match v {
            Value::String(s) if self.contains_secret(s) => *s = SENSITIVE.to_string(),
            Value::Array(a) => a.iter_mut().for_each(|c| self.redact_value(c)),
            Value::Object(m) => {
                if m.keys().any(|k| self.contains_secret(k)) {
                    let old = std::mem::take(m);
                    for (k, c) in old {
                        m.insert(if self.contains_secret(&k) { self.redact_str(&k) } else { k }, c);
                    }
                }
                m.values_mut().for_each(|c| self.redact_value(c))
            }
            _ => {}
        }
    }
}

/// Removes secrets from diagnostics: a value read from a secret variable can end up in a
/// message ("expected an integer, found the string ...").
pub fn redact_diagnostics(d: &mut crate::diag::Diagnostics, r: &Redactor) {
    if r.is_empty() {
        return;
    }
    for item in &mut d.items {
        item.summary = r.redact_str(&item.summary);
        item.detail = r.redact_str(&item.detail);
        item.help = item.help.as_deref().map(|h| r.redact_str(h));
    }
}

/// The forms of `s` that strata's output can contain: as is, escaped inside a JSON string, and
/// escaped inside a Rust debug string (`{:?}`, used by `STRATA_LOG=debug` traces).
fn encodings(s: &str) -> Vec<String> {
    let json = serde_json::to_string(s).expect("a string serializes");
    let debug = format!("{s:?}");
    let mut out = vec![s.to_string()];
    for quoted in [json, debug] {
        let inner = quoted[1..quoted.len() - 1].to_string();
        if !out.contains(&inner) {
            out.push(inner);
        }
    }
    out
}

/// Masks every value of `v` under each sensitive pointer pattern (`/data`, `/env/*/value`).
pub fn mask_patterns<'a>(v: &mut Value, patterns: impl IntoIterator<Item = &'a str>) {
    for p in patterns {
        strata_sdk::value::mask_at(v, &strata_sdk::value::pointer_segments(p));
    }
}

/// Masks the part of `v`, the value found at `at`, that lies under a sensitive pattern: a
/// change reported at a parent path (a whole list replaced) still hides the sensitive values
/// inside it. Returns whether `at` itself is sensitive (then all of `v` is masked).
pub fn mask_below<'a>(v: &mut Value, at: &[String], patterns: impl IntoIterator<Item = &'a str>) -> bool {
    let mut whole = false;
    for p in patterns {
        let segs = strata_sdk::value::pointer_segments(p);
        let n = segs.len().min(at.len());
        if !segs[..n].iter().zip(&at[..n]).all(|(s, a)| s == "*" || s == a) {
            continue;
        }
        if segs.len() <= at.len() {
            whole = true;
            strata_sdk::value::mask_at(v, &[]);
        } else {
            strata_sdk::value::mask_at(v, &segs[at.len()..]);
        }
    }
    whole
}

/// The JSON pointer of path segments (`~` and `/` escaped), as state records sensitive paths.
pub fn pointer(path: &[String]) -> String {
    path.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect()
}

/// Pointers of every string in `v` that holds a secret known to `redactor`.
pub fn secret_paths(v: &Value, redactor: &Redactor) -> Vec<String> {
    fn walk(v: &Value, path: &mut Vec<String>, r: &Redactor, out: &mut Vec<String>) {
        match v {
            Value::String(s) if r.contains_secret(s) => out.push(pointer(path)),
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    path.push(i.to_string());
                    walk(c, path, r, out);
                    path.pop();
                }
            }
            Value::Object(m) => {
                for (k, c) in m {
                    path.push(k.clone());
                    walk(c, path, r, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if !redactor.is_empty() {
        walk(v, &mut Vec::new(), redactor, &mut out);
    }
    out
}

/// The string values of `v` under the sensitive `patterns`: secrets that state holds (a value
/// applied before a rotation), so that text mentioning them is redacted too.
pub fn values_under<'a>(v: &Value, patterns: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|c| strings(c, out)),
            Value::Object(m) => m.values().for_each(|c| strings(c, out)),
            _ => {}
        }
    }
    fn at(v: &Value, segs: &[String], out: &mut Vec<String>) {
        match segs.split_first() {
            None => strings(v, out),
            Some((head, rest)) => match v {
                Value::Object(m) if head == "*" => m.values().for_each(|c| at(c, rest, out)),
                Value::Array(a) if head == "*" => a.iter().for_each(|c| at(c, rest, out)),
                _ => {
                    if let Some(c) = strata_sdk::value::get(v, std::slice::from_ref(head)) {
                        at(c, rest, out)
                    }
                }
            },
        }
    }
    let mut out = Vec::new();
    for p in patterns {
        at(v, &strata_sdk::value::pointer_segments(p), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_strings_and_values() {
        let r = Redactor::new(vec!["hunter22".into(), String::new()]);
        assert_eq!(r.redact_str("auth failed for token hunter22"), format!("auth failed for token {SENSITIVE}"));
        assert_eq!(r.redact_str("nothing to hide"), "nothing to hide", "an empty secret must not match everywhere");
        let mut v = json!({"a": "Bearer hunter22", "b": ["x"]});
        r.redact_value(&mut v);
        assert_eq!(v, json!({"a": SENSITIVE, "b": ["x"]}));
    }

    #[test]
    fn secrets_are_redacted_in_every_encoding_strata_prints() {
        let secret = r#"pa"ss\word"#;
        let r = Redactor::new(vec![secret.into()]);
        // Inside a JSON document (an error body echoed by a provider, `--json` output).
        let json = serde_json::to_string(&json!({"password": secret})).unwrap();
        assert!(!r.redact_str(&json).contains(r#"ss\\word"#), "{}", r.redact_str(&json));
        assert_eq!(r.redact_str(&json), format!(r#"{{"password":"{SENSITIVE}"}}"#));
        // Inside a debug-quoted string (`STRATA_LOG=debug` traces).
        let debug = format!("message={:?}", format!("bad password {secret}"));
        assert_eq!(r.redact_str(&debug), format!("message=\"bad password {SENSITIVE}\""));
        // Raw.
        assert_eq!(r.redact_str(&format!("x {secret} y")), format!("x {SENSITIVE} y"));
    }

    #[test]
    fn masks_below_a_parent_path() {
        let mut v = json!([{"id": "a", "custom_headers": {"X-Origin-Secret": "s1"}}, {"id": "b"}]);
        let at = vec!["origins".to_string()];
        let whole = mask_below(&mut v, &at, ["/origins/*/custom_headers", "/other"]);
        assert!(!whole);
        assert_eq!(v, json!([{"id": "a", "custom_headers": {"X-Origin-Secret": SENSITIVE}}, {"id": "b"}]));
        let mut w = json!({"k": "v"});
        assert!(mask_below(&mut w, &["data".to_string(), "x".to_string()], ["/data"]));
        assert_eq!(w, json!({"k": SENSITIVE}));
    }

    #[test]
    fn finds_secret_paths_and_values() {
        let r = Redactor::new(vec!["s3cret".into()]);
        let v =
            json!({"env": [{"name": "A", "value": "x"}, {"name": "B", "value": "db://u:s3cret@h"}], "a/b": "s3cret"});
        assert_eq!(secret_paths(&v, &r), vec!["/env/1/value", "/a~1b"]);
        assert_eq!(values_under(&v, ["/env/1/value", "/a~1b"]), vec!["db://u:s3cret@h", "s3cret"]);
        assert_eq!(values_under(&v, ["/env/*/name"]), vec!["A", "B"]);
    }
}
