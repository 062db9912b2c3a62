use serde::{Deserialize, Serialize};

/// A JSON-pointer-like path that may contain `*` segments matching any one key or index:
/// `/spec/ports/*/nodePort`. The empty pattern `""` matches the whole document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PathPattern(pub String);

impl PathPattern {
    pub fn new(p: impl Into<String>) -> Self {
        PathPattern(p.into())
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').skip(1)
    }

    /// True when `path` (a concrete pointer, segments already split) is this pattern or lies
    /// below it: `/data` covers `/data/password`.
    pub fn covers(&self, path: &[String]) -> bool {
        let mut n = 0;
        for (i, seg) in self.segments().enumerate() {
            match path.get(i) {
                Some(p) if seg == "*" || unescape(seg) == *p => n += 1,
                _ => return false,
            }
        }
        n <= path.len()
    }
}

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

/// What the engine needs to know about one resource kind to diff and apply it correctly.
///
/// Providers return one per kind; the defaults (nothing forces replacement, nothing sensitive,
/// nothing ignored, synchronous) are right for most declarative APIs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindSchema {
    /// Attributes that cannot be changed in place: a change means delete and create
    /// (`-/+` in the plan, with the attribute named as the reason).
    pub force_new: Vec<PathPattern>,
    /// Attributes whose values are never printed (plans, logs, JSON output, errors).
    pub sensitive: Vec<PathPattern>,
    /// Attributes owned by controllers after creation (an HPA's replica count): set on create,
    /// never reported as drift nor updated.
    pub ignore_changes: Vec<PathPattern>,
    /// Creation returns before the object is ready (CloudFront deployments); the engine calls
    /// [`crate::Provider::wait`] without holding a concurrency slot.
    pub asynchronous: bool,
    /// The object exists before strata and stays after it (a Namespace on a real cluster):
    /// strata manages only the attributes its resource sets. A remote object found without
    /// state is then expected, not the trace of an interrupted run, and destroy removes only
    /// those attributes.
    #[serde(default)]
    pub fields_only: bool,
}

impl KindSchema {
    pub fn is_sensitive(&self, path: &[String]) -> bool {
        self.sensitive.iter().any(|p| p.covers(path))
    }
    pub fn forces_new(&self, path: &[String]) -> bool {
        self.force_new.iter().any(|p| p.covers(path))
    }
    pub fn is_ignored(&self, path: &[String]) -> bool {
        self.ignore_changes.iter().any(|p| p.covers(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Vec<String> {
        s.split('/').skip(1).map(str::to_string).collect()
    }

    #[test]
    fn patterns_cover_paths_below_them() {
        let p = PathPattern::new("/data");
        assert!(p.covers(&path("/data")));
        assert!(p.covers(&path("/data/password")));
        assert!(!p.covers(&path("/metadata")));
        let w = PathPattern::new("/spec/ports/*/nodePort");
        assert!(w.covers(&path("/spec/ports/0/nodePort")));
        assert!(!w.covers(&path("/spec/ports/0/port")));
        assert!(
            PathPattern::new("/a~1b")
                .covers(&path("/a/b").into_iter().take(0).chain(["a/b".to_string()]).collect::<Vec<_>>())
        );
    }

    #[test]
    fn whole_document_pattern() {
        assert!(PathPattern::new("").covers(&path("/anything/at/all")));
    }
}
