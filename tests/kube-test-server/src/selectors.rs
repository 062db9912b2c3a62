//! Label and field selectors, as accepted in `?labelSelector=` and
//! `?fieldSelector=` of LIST (and DELETE collection) requests.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

#[derive(Clone, Debug, PartialEq)]
enum LabelOp {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
    Gt(i64),
    Lt(i64),
}

#[derive(Clone, Debug, PartialEq)]
struct Requirement {
    key: String,
    op: LabelOp,
}

/// A parsed label selector; all requirements must hold (they are ANDed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the string syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3`.
    pub fn parse(s: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(Self { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.reqs.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match (&r.op, value) {
                (LabelOp::Eq(v), Some(x)) => v == x,
                (LabelOp::Eq(_), None) => false,
                // `!=` and `notin` also match objects without the label.
                (LabelOp::NotEq(v), x) => x != Some(v.as_str()),
                (LabelOp::In(vs), Some(x)) => vs.iter().any(|v| v == x),
                (LabelOp::In(_), None) => false,
                (LabelOp::NotIn(vs), x) => x.is_none_or(|x| vs.iter().all(|v| v != x)),
                (LabelOp::Exists, x) => x.is_some(),
                (LabelOp::NotExists, x) => x.is_none(),
                (LabelOp::Gt(n), Some(x)) => x.parse::<i64>().is_ok_and(|x| x > *n),
                (LabelOp::Lt(n), Some(x)) => x.parse::<i64>().is_ok_and(|x| x < *n),
                (LabelOp::Gt(_) | LabelOp::Lt(_), None) => false,
            }
        })
    }
}

/// Splits on commas that are not inside `( … )`, so `a in (x,y),b` gives
/// two requirements.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(format!("unable to parse requirement: {}", msg.into()))
}

fn parse_requirement(part: &str) -> ApiResult<Requirement> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement { key: checked_key(key.trim())?, op: LabelOp::NotExists });
    }
    // Set-based forms: `key in (…)` / `key notin (…)`.
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim_start();
        for (kw, notin) in [("in", false), ("notin", true)] {
            if let Some(list) = rest.strip_prefix(kw)
                && (list.starts_with(char::is_whitespace) || list.starts_with('('))
            {
                let list = list.trim();
                let inner = list
                    .strip_prefix('(')
                    .and_then(|l| l.strip_suffix(')'))
                    .ok_or_else(|| bad(format!("{part:?}: expected a parenthesised value list")))?;
                let values: Vec<String> =
                    inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
                let key = checked_key(words[0])?;
                let op = if notin { LabelOp::NotIn(values) } else { LabelOp::In(values) };
                return Ok(Requirement { key, op });
            }
        }
    }
    // Equality-based forms; `!=` and `==` must be tried before `=`.
    for (sym, mk) in [("!=", LabelOp::NotEq as fn(String) -> LabelOp), ("==", LabelOp::Eq), ("=", LabelOp::Eq)] {
        if let Some((k, v)) = part.split_once(sym) {
            return Ok(Requirement { key: checked_key(k.trim())?, op: mk(v.trim().to_string()) });
        }
    }
    for (sym, gt) in [(">", true), ("<", false)] {
        if let Some((k, v)) = part.split_once(sym) {
            let n: i64 = v.trim().parse().map_err(|_| {
                bad(format!("{part:?}: for 'gt', 'lt' operators, exactly one integer value is required"))
            })?;
            let op = if gt { LabelOp::Gt(n) } else { LabelOp::Lt(n) };
            return Ok(Requirement { key: checked_key(k.trim())?, op });
        }
    }
    Ok(Requirement { key: checked_key(part)?, op: LabelOp::Exists })
}

fn checked_key(key: &str) -> ApiResult<String> {
    let ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok { Ok(key.to_string()) } else { Err(bad(format!("invalid label key {key:?}"))) }
}

/// A field selector; only the fields every kind supports are understood:
/// `metadata.name` and `metadata.namespace`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>, // (field, equal?, value)
}

impl FieldSelector {
    pub fn parse(s: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, eq, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::BadRequest(format!("invalid selector: '{s}'; can't understand '{part}'")));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" {
                return Err(ApiError::BadRequest(format!("field label not supported: {field}")));
            }
            reqs.push((field.to_string(), eq, value.trim().to_string()));
        }
        Ok(Self { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub fn matches(&self, name: &str, namespace: &str) -> bool {
        self.reqs.iter().all(|(field, eq, value)| {
            let actual = if field == "metadata.name" { name } else { namespace };
            (actual == value) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn label_selector_operators() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&l));
        assert!(m("app=web"));
        assert!(m("app==web"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("app in (web, api),tier"));
        assert!(!m("app notin (web)"));
        assert!(m("missing notin (web)"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m("n>3,n<6"));
        assert!(m(""));
        assert!(!LabelSelector::parse("app").unwrap().matches(None));
        assert!(LabelSelector::parse("a in x").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn field_selector() {
        let f = FieldSelector::parse("metadata.name=a,metadata.namespace!=kube-system").unwrap();
        assert!(f.matches("a", "default"));
        assert!(!f.matches("a", "kube-system"));
        assert!(!f.matches("b", "default"));
        assert!(FieldSelector::parse("spec.x=1").is_err());
    }
}
