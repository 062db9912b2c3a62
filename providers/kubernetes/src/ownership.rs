//! Ownership marks: the labels and annotation strata puts on every object it applies, and the
//! judgement of whether a live object is ours.

use serde_json::{Map, Value};
use strata_sdk::{
    Address, OWNERSHIP_ADDRESS_KEY, OWNERSHIP_ENV_KEY, OWNERSHIP_MANAGED_BY_KEY, OWNERSHIP_MANAGED_BY_VALUE,
    OWNERSHIP_PROJECT_KEY, Ownership,
};

/// Who strata is in this run: the project and environment written into every object's labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipMarks {
    /// The project name (`strata.dev/project` label).
    pub project: String,
    /// The environment name (`strata.dev/env` label), `default` when none is selected.
    pub env: String,
}

impl OwnershipMarks {
    pub fn new(project: impl Into<String>, env: impl Into<String>) -> Self {
        OwnershipMarks { project: project.into(), env: env.into() }
    }

    /// The label selector of the batched LIST:
    /// `app.kubernetes.io/managed-by=strata,strata.dev/project=<project>`. The environment is
    /// left out on purpose, so an object of another environment with the same name is found
    /// and reported as foreign rather than hidden.
    pub fn label_selector(&self) -> String {
        format!("{OWNERSHIP_MANAGED_BY_KEY}={OWNERSHIP_MANAGED_BY_VALUE},{OWNERSHIP_PROJECT_KEY}={}", self.project)
    }

    /// The three labels strata sets.
    pub fn labels(&self) -> [(&'static str, &str); 3] {
        [
            (OWNERSHIP_MANAGED_BY_KEY, OWNERSHIP_MANAGED_BY_VALUE),
            (OWNERSHIP_PROJECT_KEY, &self.project),
            (OWNERSHIP_ENV_KEY, &self.env),
        ]
    }
}

fn object_entry<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = m.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("just made an object")
}

/// Adds strata's labels and address annotation to a manifest (creating `metadata`, `labels` and
/// `annotations` as needed). Other labels and annotations are kept.
pub fn apply_marks(manifest: &mut Value, marks: &OwnershipMarks, address: &Address) {
    if !manifest.is_object() {
        return;
    }
    let root = manifest.as_object_mut().expect("checked");
    let meta = object_entry(root, "metadata");
    let labels = object_entry(meta, "labels");
    for (k, v) in marks.labels() {
        labels.insert(k.to_string(), Value::String(v.to_string()));
    }
    let annotations = object_entry(meta, "annotations");
    annotations.insert(OWNERSHIP_ADDRESS_KEY.to_string(), Value::String(address.to_string()));
}

/// `ConfigMap apex/edge` or `Namespace apex`: how messages name an object.
pub fn describe(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("object");
    let meta = obj.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("?");
    match meta.and_then(|m| m.get("namespace")).and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Whether a live object carries this project's, environment's and address's marks. `Foreign`
/// explains the first mark that is missing or different.
pub fn evaluate_ownership(obj: &Value, marks: &OwnershipMarks, address: &Address) -> Ownership {
    let what = describe(obj);
    let meta = obj.get("metadata");
    let label = |k: &str| meta.and_then(|m| m.get("labels")).and_then(|l| l.get(k)).and_then(Value::as_str);
    let annotation = |k: &str| meta.and_then(|m| m.get("annotations")).and_then(|l| l.get(k)).and_then(Value::as_str);
    let foreign = |detail: String| Ownership::Foreign { detail };

    match label(OWNERSHIP_MANAGED_BY_KEY) {
        None => {
            return foreign(format!(
                "{what} exists but is not managed by strata (no {OWNERSHIP_MANAGED_BY_KEY} label)"
            ));
        }
        Some(v) if v != OWNERSHIP_MANAGED_BY_VALUE => {
            return foreign(format!(
                "{what} exists but is managed by {v:?} ({OWNERSHIP_MANAGED_BY_KEY}={v}), not strata"
            ));
        }
        Some(_) => {}
    }
    match label(OWNERSHIP_PROJECT_KEY) {
        None => {
            return foreign(format!("{what} is managed by strata but has no {OWNERSHIP_PROJECT_KEY} label"));
        }
        Some(p) if p != marks.project => {
            return foreign(format!(
                "{what} belongs to strata project {p:?} ({OWNERSHIP_PROJECT_KEY}), not {:?}",
                marks.project
            ));
        }
        Some(_) => {}
    }
    match label(OWNERSHIP_ENV_KEY) {
        None => {
            return foreign(format!(
                "{what} belongs to project {:?} but has no {OWNERSHIP_ENV_KEY} label",
                marks.project
            ));
        }
        Some(e) if e != marks.env => {
            return foreign(format!(
                "{what} belongs to environment {e:?} of project {:?} ({OWNERSHIP_ENV_KEY}), not {:?}",
                marks.project, marks.env
            ));
        }
        Some(_) => {}
    }
    match annotation(OWNERSHIP_ADDRESS_KEY) {
        None => foreign(format!(
            "{what} belongs to this project and environment but has no {OWNERSHIP_ADDRESS_KEY} annotation"
        )),
        Some(a) if a != address.as_str() => {
            foreign(format!("{what} is managed by strata as `{a}` ({OWNERSHIP_ADDRESS_KEY}), not `{address}`"))
        }
        Some(_) => Ownership::Ours,
    }
}

/// What a write strata was asked to make would do to an object that is not (or no longer) ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Create or update: the object would be overwritten and take strata's marks.
    Write,
    /// Delete: the object would be deleted.
    Delete,
}

/// The `conflict` error for a write to an object strata does not own, checked at apply time
/// whatever the plan said (a plan made with `--refresh=false` never saw the object; the marks
/// may have been changed since the plan). `detail` is [`evaluate_ownership`]'s explanation and
/// `managers` the object's field managers (`metadata.managedFields`), i.e. who does own it.
pub fn refusal(refused: Refused, detail: &str, managers: &[String], address: &Address) -> strata_sdk::ProviderError {
    let owners = match managers {
        [] => String::new(),
        [one] => format!("; its fields are managed by {one:?}"),
        many => format!(
            "; its fields are managed by {}",
            many.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
        ),
    };
    let what = match refused {
        Refused::Write => format!(
            "strata will not overwrite an object it does not own: run `strata import {address}` to adopt it, or give `{address}` another name"
        ),
        Refused::Delete => format!(
            "strata will not delete an object it does not own: if it should be strata's again, run `strata import {address}`; to stop tracking it, run `strata state rm {address}`"
        ),
    };
    strata_sdk::ProviderError::conflict(format!("{detail}{owners}; {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn marks() -> OwnershipMarks {
        OwnershipMarks::new("apex", "prod")
    }
    fn addr() -> Address {
        Address::parse("resources.edge-config").unwrap()
    }
    fn detail(o: Ownership) -> String {
        match o {
            Ownership::Foreign { detail } => detail,
            Ownership::Ours => panic!("expected foreign"),
        }
    }

    #[test]
    fn marks_are_added_and_recognised() {
        let mut m = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "edge", "namespace": "apex", "labels": {"app": "edge"}}});
        apply_marks(&mut m, &marks(), &addr());
        assert_eq!(
            m["metadata"]["labels"],
            json!({"app": "edge", "app.kubernetes.io/managed-by": "strata",
                   "strata.dev/project": "apex", "strata.dev/env": "prod"})
        );
        assert_eq!(m["metadata"]["annotations"], json!({"strata.dev/address": "resources.edge-config"}));
        assert_eq!(evaluate_ownership(&m, &marks(), &addr()), Ownership::Ours);
        let mut bare = json!({"kind": "Namespace"});
        apply_marks(&mut bare, &marks(), &addr());
        assert_eq!(bare["metadata"]["labels"]["strata.dev/env"], "prod");
    }

    #[test]
    fn explains_foreign_objects() {
        let obj = |labels: Value, annotations: Value| {
            json!({"kind": "ConfigMap", "metadata": {"name": "edge", "namespace": "apex",
                "labels": labels, "annotations": annotations}})
        };
        let d = detail(evaluate_ownership(
            &json!({"kind": "ConfigMap", "metadata": {"name": "edge", "namespace": "apex"}}),
            &marks(),
            &addr(),
        ));
        assert_eq!(
            d,
            "ConfigMap apex/edge exists but is not managed by strata (no app.kubernetes.io/managed-by label)"
        );
        let d = detail(evaluate_ownership(
            &obj(json!({"app.kubernetes.io/managed-by": "Helm"}), json!({})),
            &marks(),
            &addr(),
        ));
        assert!(d.contains("managed by \"Helm\""), "{d}");
        let ours =
            json!({"app.kubernetes.io/managed-by": "strata", "strata.dev/project": "apex", "strata.dev/env": "prod"});
        let mut other_project = ours.clone();
        other_project["strata.dev/project"] = json!("zeta");
        let d = detail(evaluate_ownership(&obj(other_project, json!({})), &marks(), &addr()));
        assert!(d.contains("project \"zeta\""), "{d}");
        let mut other_env = ours.clone();
        other_env["strata.dev/env"] = json!("staging");
        let d = detail(evaluate_ownership(&obj(other_env, json!({})), &marks(), &addr()));
        assert!(d.contains("environment \"staging\""), "{d}");
        let mut no_env = ours.clone();
        no_env.as_object_mut().unwrap().remove("strata.dev/env");
        let d = detail(evaluate_ownership(&obj(no_env, json!({})), &marks(), &addr()));
        assert!(d.contains("no strata.dev/env label"), "{d}");
        let d = detail(evaluate_ownership(&obj(ours.clone(), json!({})), &marks(), &addr()));
        assert!(d.contains("no strata.dev/address annotation"), "{d}");
        let d = detail(evaluate_ownership(
            &obj(ours.clone(), json!({"strata.dev/address": "resources.other"})),
            &marks(),
            &addr(),
        ));
        assert!(d.contains("as `resources.other`"), "{d}");
        assert_eq!(
            evaluate_ownership(&obj(ours, json!({"strata.dev/address": "resources.edge-config"})), &marks(), &addr()),
            Ownership::Ours
        );
    }

    #[test]
    fn selector_names_project_only() {
        assert_eq!(marks().label_selector(), "app.kubernetes.io/managed-by=strata,strata.dev/project=apex");
        assert_eq!(describe(&json!({"kind": "Namespace", "metadata": {"name": "apex"}})), "Namespace apex");
    }
}
