//! `?watch=true`: a stream of newline-delimited JSON watch events.
//!
//! A watch without a resourceVersion (or with "0") first replays the
//! current state as ADDED events; one with a resourceVersion replays the
//! kept event history after it (410 Gone if that is no longer known), then
//! both follow live changes. Label selectors are applied to both the old
//! and new state, so objects entering or leaving the selection show up as
//! ADDED or DELETED, as with the real apiserver.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::api::{Request, Selection, Target, partial_metadata, resolve};
use crate::error::{ApiError, ApiResult};
use crate::store::{Event, EventType, ObjKey, Store};
use crate::table;

/// A watch ready to stream: events already due, plus the live feed.
pub struct Watch {
    target: Target,
    selection: Selection,
    table: bool,
    metadata_only: bool,
    include_object: Option<String>,
    pending: VecDeque<Value>,
    live: broadcast::Receiver<Arc<Event>>,
    /// Live events up to this resourceVersion were already covered.
    seen_rv: u64,
    deadline: tokio::time::Instant,
}

/// How long a watch without `timeoutSeconds` lasts (the apiserver picks a
/// random 30–60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn event_line(event_type: &str, object: Value) -> Value {
    json!({"type": event_type, "object": object})
}

fn gone(rv: u64, current: u64) -> Value {
    event_line(
        "ERROR",
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: {rv} ({current})"),
            "reason": "Expired", "code": 410,
        }),
    )
}

/// Sets up a watch under the store lock, so nothing falls between the
/// replayed state and the live feed.
pub fn start(store: &Store, req: &Request<'_>) -> ApiResult<Watch> {
    let target = resolve(store, req.path)?;
    if req.path.name.is_some() || req.path.subresource.is_some() {
        return Err(ApiError::MethodNotAllowed(
            "watch a collection with a metadata.name field selector instead".into(),
        ));
    }
    let selection = Selection::from(req)?;
    let timeout = match req.param("timeoutSeconds") {
        Some(s) => {
            Duration::from_secs(s.parse().map_err(|_| ApiError::BadRequest(format!("invalid timeoutSeconds {s:?}")))?)
        }
        None => DEFAULT_TIMEOUT,
    };
    let mut watch = Watch {
        target,
        selection,
        table: req.wants_table(),
        metadata_only: req.wants_metadata(),
        include_object: req.param("includeObject").map(str::to_string),
        pending: VecDeque::new(),
        live: store.subscribe(),
        seen_rv: store.resource_version(),
        deadline: tokio::time::Instant::now() + timeout,
    };
    let current = store.resource_version();
    let initial_events = req.param("sendInitialEvents") == Some("true");
    match req.param("resourceVersion").unwrap_or_default() {
        rv if rv.is_empty() || rv == "0" || initial_events => {
            let t = &watch.target;
            let objects: Vec<Value> = store
                .range(&t.rt, t.namespace.as_deref(), None)
                .filter(|(k, s)| watch.selection.matches(k, &s.obj))
                .map(|(_, s)| s.obj.clone())
                .collect();
            for obj in objects {
                let line = watch.line("ADDED", &obj);
                watch.pending.push_back(line);
            }
            if initial_events {
                let bookmark = json!({
                    "kind": watch.target.rt.kind,
                    "apiVersion": watch.target.api_version(),
                    "metadata": {
                        "resourceVersion": current.to_string(),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                });
                watch.pending.push_back(event_line("BOOKMARK", bookmark));
            }
        }
        rv => {
            let rv: u64 = rv.parse().map_err(|_| ApiError::BadRequest(format!("invalid resourceVersion {rv:?}")))?;
            match store.history_since(rv) {
                Some(events) => {
                    for e in events {
                        if let Some(line) = watch.render(&e) {
                            watch.pending.push_back(line);
                        }
                    }
                }
                None => {
                    watch.pending.push_back(gone(rv, current));
                    watch.deadline = tokio::time::Instant::now();
                }
            }
        }
    }
    Ok(watch)
}

impl Watch {
    fn line(&self, event_type: &str, obj: &Value) -> Value {
        let obj = self.target.present(obj);
        let object = if self.table {
            let rv = obj.pointer("/metadata/resourceVersion").cloned();
            table::table(&[obj], rv, None, self.include_object.as_deref())
        } else if self.metadata_only {
            partial_metadata(&obj)
        } else {
            obj
        };
        event_line(event_type, object)
    }

    /// The event as this watcher sees it, if at all.
    fn render(&self, e: &Event) -> Option<Value> {
        let t = &self.target;
        if e.gr != t.rt.gr() || t.namespace.as_ref().is_some_and(|ns| *ns != e.key.namespace) {
            return None;
        }
        let matches = |obj: &Value, key: &ObjKey| self.selection.matches(key, obj);
        let now = matches(&e.obj, &e.key);
        let before = e.old.as_ref().is_some_and(|o| matches(o, &e.key));
        let event_type = match (e.event_type, before, now) {
            (EventType::Modified, true, true) => "MODIFIED",
            (EventType::Modified, false, true) => "ADDED",
            (EventType::Modified, true, false) => "DELETED",
            (EventType::Added | EventType::Deleted, _, true) => e.event_type.as_str(),
            _ => return None,
        };
        Some(self.line(event_type, &e.obj))
    }

    /// The next event line, or `None` when the watch is over (timeout,
    /// server shutdown, or a watcher too slow to keep up).
    pub async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(v) = self.pending.pop_front() {
                let mut line = serde_json::to_vec(&v).unwrap_or_default();
                line.push(b'\n');
                return Some(Bytes::from(line));
            }
            if tokio::time::Instant::now() >= self.deadline {
                return None;
            }
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(e) if e.resource_version <= self.seen_rv => {}
                    Ok(e) => {
                        self.seen_rv = e.resource_version;
                        if let Some(line) = self.render(&e) {
                            self.pending.push_back(line);
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Events were lost: make the client re-list.
                        self.pending.push_back(gone(self.seen_rv, self.seen_rv));
                        self.deadline = tokio::time::Instant::now();
                    }
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(self.deadline) => return None,
            }
        }
    }
}
