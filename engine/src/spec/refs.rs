//! `${...}` references inside spec strings.
//!
//! Three forms: `${env}` (the selected environment's name), `${env.VAR}` / `${secret.VAR}`
//! (process environment variables, resolved when the spec loads; `secret.` values and variables
//! whose names look like credentials are redacted from all output), and `${<address>.<attr>}`
//! (another resource's attribute or output, resolved at plan time when known and at apply time
//! otherwise). `$${` writes a literal `${`.

use serde_json::Value;

/// One reference found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefExpr {
    /// `${env}`
    EnvName,
    /// `${env.VAR}`
    EnvVar(String),
    /// `${secret.VAR}`
    Secret(String),
    /// `${cdn.assets.domain_name}`: an address followed by an attribute path (split later,
    /// against the set of known addresses).
    Resource(String),
}

/// A reference and where it sits in its string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSite {
    pub start: usize,
    pub end: usize,
    /// The text between `${` and `}`.
    pub raw: String,
    pub expr: Result<RefExpr, String>,
}

/// Finds every reference in `s`. Malformed ones (`${}`, unterminated) come back with an error.
pub fn find_refs(s: &str) -> Vec<RefSite> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(pos) = s[i..].find("${") {
        let start = i + pos;
        if start > 0 && bytes[start - 1] == b'$' {
            i = start + 2;
            continue;
        }
        match s[start + 2..].find('}') {
            None => {
                out.push(RefSite {
                    start,
                    end: s.len(),
                    raw: s[start + 2..].to_string(),
                    expr: Err("this reference is not closed with `}`".into()),
                });
                break;
            }
            Some(len) => {
                let raw = s[start + 2..start + 2 + len].trim().to_string();
                let end = start + 3 + len;
                out.push(RefSite { start, end, expr: classify(&raw), raw });
                i = end;
            }
        }
    }
    out
}

fn classify(raw: &str) -> Result<RefExpr, String> {
    if raw.is_empty() {
        return Err("an empty reference `${}` refers to nothing".into());
    }
    if raw == "env" {
        return Ok(RefExpr::EnvName);
    }
    let valid = raw.split('.').all(|seg| {
        !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '[' | ']'))
    });
    if !valid {
        return Err(format!(
            "`{raw}` is not a valid reference: write dot-separated names like `cdn.assets.domain_name`"
        ));
    }
    if let Some(var) = raw.strip_prefix("env.") {
        return Ok(RefExpr::EnvVar(var.to_string()));
    }
    if let Some(var) = raw.strip_prefix("secret.") {
        return Ok(RefExpr::Secret(var.to_string()));
    }
    Ok(RefExpr::Resource(raw.to_string()))
}

/// Words that make an environment variable's name read as a credential. Names are compared
/// word by word (split at `_`, `-`, `.` and lower-to-upper case changes), so `DB_PASS` and
/// `apiKey` match and `KEYBOARD_LAYOUT`, `MONKEY` and `AUTHOR` do not.
const SECRET_WORDS: &[&str] = &[
    "PASS",
    "PASSWD",
    "PASSWORD",
    "PASSWORDS",
    "PASSPHRASE",
    "PWD",
    "SECRET",
    "SECRETS",
    "TOKEN",
    "TOKENS",
    "KEY",
    "KEYS",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "CREDS",
    "DSN",
    "AUTH",
    "OAUTH",
    "PRIVATE",
];

/// Pairs of adjacent words that name a connection string, which usually carries a password:
/// `DATABASE_URL`, `REDIS_URI`, `MONGO_CONNECTION_STRING`.
const SECRET_PAIRS: &[(&str, &str)] = &[
    ("DATABASE", "URL"),
    ("DATABASE", "URI"),
    ("DB", "URL"),
    ("DB", "URI"),
    ("REDIS", "URL"),
    ("REDIS", "URI"),
    ("MONGO", "URL"),
    ("MONGO", "URI"),
    ("MONGODB", "URI"),
    ("MONGODB", "URL"),
    ("AMQP", "URL"),
    ("BROKER", "URL"),
    ("CONNECTION", "STRING"),
    ("CONN", "STR"),
];

/// The words of a variable name, upper-cased: `dbPassword_2` is `DB`, `PASSWORD`, `2`.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_uppercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Whether an environment variable's value should be treated as a secret, from its name.
/// `${secret.VAR}` marks any variable secret explicitly; values that look like credentials
/// (see [`value_looks_secret`]) are secret whatever the name.
pub fn env_var_looks_secret(name: &str) -> bool {
    let words = name_words(name);
    words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
        || words.windows(2).any(|p| SECRET_PAIRS.contains(&(p[0].as_str(), p[1].as_str())))
}

/// Whether a value is a credential whatever the variable's name: a URL with a password in its
/// user information (`postgres://app:hunter2@db:5432/app`). Returns the password too, so it
/// can be redacted where it is printed without the rest of the URL.
pub fn value_looks_secret(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, _host) = authority.rsplit_once('@')?;
    let (_user, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// Replaces references in `s` using `lookup`. Returns `None` when some reference's value is not
/// known yet. A string that is exactly one reference takes the referenced value's JSON type.
pub fn substitute(s: &str, mut lookup: impl FnMut(&RefSite) -> Option<Value>) -> Option<Value> {
    let sites = find_refs(s);
    if sites.is_empty() {
        return Some(Value::String(unescape(s)));
    }
    if sites.len() == 1 && sites[0].start == 0 && sites[0].end == s.len() {
        return lookup(&sites[0]);
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for site in &sites {
        out.push_str(&unescape(&s[last..site.start]));
        match lookup(site)? {
            Value::String(v) => out.push_str(&v),
            other => out.push_str(&other.to_string()),
        }
        last = site.end;
    }
    out.push_str(&unescape(&s[last..]));
    Some(Value::String(out))
}

fn unescape(s: &str) -> String {
    s.replace("$${", "${")
}

/// Calls `f` on every string in a JSON value, with its path.
pub fn visit_strings(v: &Value, path: &mut Vec<String>, f: &mut impl FnMut(&[String], &str)) {
    match v {
        Value::String(s) => f(path, s),
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                path.push(i.to_string());
                visit_strings(c, path, f);
                path.pop();
            }
        }
        Value::Object(m) => {
            for (k, c) in m {
                path.push(k.clone());
                visit_strings(c, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_and_classifies() {
        let r = find_refs("https://${cdn.assets.domain_name}/${env}/${env.HOME}");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].expr, Ok(RefExpr::Resource("cdn.assets.domain_name".into())));
        assert_eq!(r[1].expr, Ok(RefExpr::EnvName));
        assert_eq!(r[2].expr, Ok(RefExpr::EnvVar("HOME".into())));
        assert!(find_refs("${}")[0].expr.is_err());
        assert!(find_refs("${a b}")[0].expr.is_err());
        assert!(find_refs("x ${open")[0].expr.is_err());
        assert!(find_refs("$${literal}").is_empty());
    }

    #[test]
    fn substitutes_whole_and_partial() {
        let v = substitute("${a.b.port}", |_| Some(json!(8080))).unwrap();
        assert_eq!(v, json!(8080));
        let v = substitute("host:${a.b.port}", |_| Some(json!(8080))).unwrap();
        assert_eq!(v, json!("host:8080"));
        assert_eq!(substitute("x ${a.b.c}", |_| None), None);
        assert_eq!(substitute("cost $${x}", |_| None), Some(json!("cost ${x}")));
    }

    #[test]
    fn secret_names() {
        for name in [
            "CLOUDFLARE_API_TOKEN",
            "STRATA_STATE_KEY",
            "DB_PASS",
            "DB_PWD",
            "PG_PASSWORD",
            "MYSQL_PASSWORD",
            "APP_SECRET",
            "AWS_SECRET_ACCESS_KEY",
            "GCP_CREDENTIALS",
            "SENTRY_DSN",
            "BASIC_AUTH",
            "TLS_PRIVATE_KEY",
            "DATABASE_URL",
            "REDIS_URL",
            "MONGO_CONNECTION_STRING",
            "apiKey",
            "dbPassword",
            "stripe-api-key",
        ] {
            assert!(env_var_looks_secret(name), "{name} should be secret");
        }
        for name in [
            "CF_ACCOUNT_ID",
            "KEYBOARD_LAYOUT",
            "MONKEY_COUNT",
            "AUTHOR",
            "PASSENGER_LIMIT",
            "BYPASS_CACHE",
            "TOKENIZER_MODEL",
            "PUBLIC_URL",
            "DATABASE_NAME",
            "HOME",
            "REGION",
            "SESSION_TIMEOUT",
        ] {
            assert!(!env_var_looks_secret(name), "{name} should not be secret");
        }
        assert_eq!(name_words("dbPassword_2"), vec!["DB", "PASSWORD", "2"]);
    }

    #[test]
    fn urls_with_passwords_are_secret_values() {
        assert_eq!(value_looks_secret("postgres://app:hunter2@db:5432/app"), Some("hunter2"));
        assert_eq!(value_looks_secret("redis://:p%40ss@cache:6379/0"), Some("p%40ss"));
        assert_eq!(value_looks_secret("https://user@example.com/"), None, "a user name alone is no credential");
        assert_eq!(value_looks_secret("https://example.com/a:b@c"), None, "`@` in the path is not user information");
        assert_eq!(value_looks_secret("not a url: x:y@z"), None);
        assert_eq!(value_looks_secret("eu-west-1"), None);
    }
}
