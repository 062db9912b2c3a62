//! Rendering plans, drift and apply results for humans (Terraform-like), for pull-request
//! comments (markdown) and as JSON (the stable shape documented in docs/json-output.md).

use std::fmt::Write;

use serde_json::Value;

use crate::apply::{ApplyReport, Outcome};
use crate::drift::DriftReport;
use crate::plan::{Action, AttrChange, Change, Plan};

/// Colors on or off (TTY and NO_COLOR decide; `--no-color` forces off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
    fn action(&self, a: Action, s: &str) -> String {
        match a {
            Action::Create => self.paint("32", s),
            Action::Update => self.paint("33", s),
            Action::Replace => self.paint("35", s),
            Action::Delete => self.paint("31", s),
            Action::NoOp => s.to_string(),
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// Strings longer than this (or multi-line) are shown as unified diffs.
const LONG_STRING: usize = 80;

/// The human plan, as printed by `strata plan`.
pub fn plan_human(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    for w in &plan.warnings {
        let _ = writeln!(out, "{} {w}", style.paint("33", "Warning:"));
    }
    if !plan.warnings.is_empty() {
        out.push('\n');
    }
    if !plan.summary.has_changes() {
        let _ = writeln!(out, "{}", style.bold("No changes. The infrastructure matches the spec."));
        return out;
    }
    let _ = writeln!(out, "strata will perform the following actions:\n");
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        out.push_str(&change_human(c, style));
        out.push('\n');
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    out
}

pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    format!("Plan: {} to add, {} to change, {} to replace, {} to destroy.", s.create, s.update, s.replace, s.delete)
}

fn change_human(c: &Change, style: Style) -> String {
    let mut out = String::new();
    let mut header = format!("  # {} will be {}", c.address, c.action.verb());
    if let Some(reason) = &c.reason {
        let _ = write!(header, " ({reason})");
    }
    let _ = writeln!(out, "{}", style.bold(&header));
    if let Some(f) = &c.foreign {
        let _ = writeln!(out, "  {} {f}", style.paint("31", "! refused:"));
    }
    let sym = c.action.symbol();
    let _ = writeln!(out, "{} {} \"{}\" {{", style.action(c.action, &format!("{sym:>3}")), c.kind, c.address);
    match c.action {
        Action::Create => leaves(c.after.as_ref(), "+", c.action, style, &mut out),
        Action::Delete => leaves(c.before.as_ref(), "-", c.action, style, &mut out),
        _ => {
            let width = c.attributes.iter().map(|a| a.path.len()).max().unwrap_or(0);
            for a in &c.attributes {
                out.push_str(&attr_change(a, width, style));
            }
        }
    }
    let _ = writeln!(out, "    }}");
    out
}

fn leaves(v: Option<&Value>, sym: &str, action: Action, style: Style, out: &mut String) {
    let Some(v) = v else { return };
    let mut flat = Vec::new();
    flatten(v, &mut Vec::new(), &mut flat);
    let width = flat.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
    for (p, val) in flat {
        let shown = show_value(&val);
        if shown.contains('\n') {
            let _ = writeln!(out, "      {} {p:<width$} = <<-EOT", style.action(action, sym));
            for line in shown.lines() {
                let _ = writeln!(out, "          {line}");
            }
            let _ = writeln!(out, "        EOT");
        } else {
            let _ = writeln!(out, "      {} {p:<width$} = {shown}", style.action(action, sym));
        }
    }
}

fn attr_change(a: &AttrChange, width: usize, style: Style) -> String {
    let mut out = String::new();
    let suffix = if a.forces_replacement { style.paint("31", " # forces replacement") } else { String::new() };
    match (&a.before, &a.after) {
        (None, Some(after)) => {
            let _ = writeln!(
                out,
                "      {} {:<width$} = {}{suffix}",
                style.action(Action::Create, "+"),
                a.path,
                show_value(after)
            );
        }
        (Some(before), None) => {
            let _ = writeln!(
                out,
                "      {} {:<width$} = {}{suffix}",
                style.action(Action::Delete, "-"),
                a.path,
                show_value(before)
            );
        }
        (Some(Value::String(b)), Some(Value::String(x))) if is_long(b) || is_long(x) => {
            let _ = writeln!(out, "      {} {:<width$} = <<-DIFF{suffix}", style.action(Action::Update, "~"), a.path);
            out.push_str(&unified_diff(b, x, style, "          "));
            let _ = writeln!(out, "        DIFF");
        }
        (Some(before), Some(after)) => {
            let _ = writeln!(
                out,
                "      {} {:<width$} = {} -> {}{suffix}",
                style.action(Action::Update, "~"),
                a.path,
                show_value(before),
                show_value(after)
            );
        }
        (None, None) => {}
    }
    out
}

fn is_long(s: &str) -> bool {
    s.len() > LONG_STRING || s.contains('\n')
}

/// A unified diff of two texts (dashboards, collector configs), indented.
pub fn unified_diff(before: &str, after: &str, style: Style, indent: &str) -> String {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = String::new();
    for group in diff.grouped_ops(2) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let (sign, code) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", "31"),
                    similar::ChangeTag::Insert => ("+", "32"),
                    similar::ChangeTag::Equal => (" ", ""),
                };
                let line = format!("{sign} {}", change.value().trim_end_matches('\n'));
                let line = if code.is_empty() { line } else { style.paint(code, &line) };
                let _ = writeln!(out, "{indent}{line}");
            }
        }
    }
    out
}

/// Values as HCL-ish literals: strings quoted, placeholders bare.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) if s == strata_sdk::value::UNKNOWN || s == strata_sdk::value::SENSITIVE => s.clone(),
        Value::String(s) if s.contains('\n') => s.clone(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(m) if m.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

/// Leaf paths of a document: `spec.ports[0].port = 80`. Empty maps and lists stay leaves.
pub fn flatten(v: &Value, path: &mut Vec<String>, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                path.push(k.clone());
                flatten(c, path, out);
                path.pop();
            }
        }
        Value::Array(a) if !a.is_empty() && a.iter().any(|x| x.is_object() || x.is_array()) => {
            for (i, c) in a.iter().enumerate() {
                path.push(i.to_string());
                flatten(c, path, out);
                path.pop();
            }
        }
        other => out.push((strata_sdk::value::display_path(path), other.clone())),
    }
}

/// The plan as a pull-request comment.
pub fn plan_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let env = if plan.env == crate::spec::DEFAULT_ENV { String::new() } else { format!(" (`{}`)", plan.env) };
    let _ = writeln!(out, "### strata plan for `{}`{env}\n", plan.project);
    if !plan.summary.has_changes() {
        let _ = writeln!(out, "**No changes.** The infrastructure matches the spec.");
        return out;
    }
    let s = &plan.summary;
    let _ = writeln!(
        out,
        "| add | change | replace | destroy |\n|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n",
        s.create, s.update, s.replace, s.delete
    );
    for w in &plan.warnings {
        let _ = writeln!(out, "> **Warning:** {w}\n");
    }
    let _ = writeln!(out, "| | resource | kind | why |\n|---|---|---|---|");
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        let why = c.reason.clone().unwrap_or_else(|| match c.action {
            Action::Update => c.attributes.iter().map(|a| format!("`{}`", a.path)).collect::<Vec<_>>().join(", "),
            _ => String::new(),
        });
        let _ =
            writeln!(out, "| `{}` | `{}` | `{}` | {} |", c.action.symbol(), c.address, c.kind, why.replace('|', "\\|"));
    }
    let _ = writeln!(out, "\n<details><summary>Full plan</summary>\n\n```diff");
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        // `diff` highlighting keys on the first column: move each line's symbol there
        // (`!`, shown as changed, for updates and replacements).
        for line in change_human(c, Style { color: false }).lines() {
            out.push_str(&diff_column(line));
            out.push('\n');
        }
    }
    let _ = writeln!(out, "```\n\n</details>\n\n{}", summary_line(plan));
    out
}

/// Moves a plan line's action symbol to column 0 for a ```diff block.
fn diff_column(line: &str) -> String {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let Some(symbol) = ["-/+ ", "+ ", "- ", "~ "].into_iter().find(|s| trimmed.starts_with(s)) else {
        return line.to_string();
    };
    let mark = match symbol {
        "+ " => '+',
        "- " => '-',
        _ => '!',
    };
    let blanked = format!("{}{}{}", " ".repeat(indent), " ".repeat(symbol.len()), &trimmed[symbol.len()..]);
    format!("{mark}{}", &blanked[1..])
}

fn shard_note(d: &DriftReport) -> String {
    d.shard.as_ref().map(|s| format!(" (shard {s})")).unwrap_or_default()
}

pub fn drift_human(d: &DriftReport, style: Style) -> String {
    let mut out = String::new();
    let shard = shard_note(d);
    if d.drifted.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            style.bold(&format!("No drift: all {} resources{shard} match the last apply.", d.checked))
        );
    } else {
        let _ = writeln!(
            out,
            "{}\n",
            style.bold(&format!("Drift detected in {} of {} resources{shard}:", d.drifted.len(), d.checked))
        );
    }
    for r in &d.drifted {
        if r.status == "deleted" {
            let _ = writeln!(
                out,
                "  {} {} ({}) was deleted outside strata",
                style.action(Action::Delete, "-"),
                r.address,
                r.kind
            );
            continue;
        }
        let _ =
            writeln!(out, "  {} {} ({}) changed by someone else", style.action(Action::Update, "~"), r.address, r.kind);
        let width = r.attributes.iter().map(|a| a.change.path.len()).max().unwrap_or(0);
        for a in &r.attributes {
            // Drift reads "applied -> now": before is what strata applied.
            out.push_str(&attr_change(&a.change, width, style));
        }
        accepted_lines(&mut out, &r.accepted, style);
    }
    for r in &d.accepted {
        let _ = writeln!(out, "  {} {} ({}) accepted drift", style.paint("2", "="), r.address, r.kind);
        accepted_lines(&mut out, &r.accepted, style);
    }
    let unmanaged: usize = d.unmanaged.iter().map(|u| u.paths.len()).sum();
    if unmanaged > 0 {
        let _ = writeln!(
            out,
            "\n{unmanaged} field(s) in {} resource(s) are set remotely and not managed by strata (server defaults, controllers): ignored; `--json` lists them.",
            d.unmanaged.len()
        );
    }
    if !d.drifted.is_empty() {
        let _ = writeln!(out, "\nRun `strata apply` to restore the spec, or update the spec to accept the change.");
    }
    out
}

fn accepted_lines(out: &mut String, accepted: &[crate::drift::AcceptedAttr], style: Style) {
    for a in accepted {
        let _ = writeln!(out, "      {} {} (accepted: {})", style.paint("2", "="), a.change.path, a.reason);
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn drift_markdown(d: &DriftReport) -> String {
    let mut out = format!("### strata drift for `{}` (`{}`){}\n\n", d.project, d.env, shard_note(d));
    if d.drifted.is_empty() {
        let _ = writeln!(out, "**No drift** in {} resources.", d.checked);
    } else {
        let _ = writeln!(out, "**Drift in {} of {} resources.**\n", d.drifted.len(), d.checked);
        let _ = writeln!(out, "| resource | kind | status | attributes |\n|---|---|---|---|");
        for r in &d.drifted {
            let attrs = r
                .attributes
                .iter()
                .map(|a| format!("`{}` ({})", md_escape(&a.change.path), a.cause))
                .collect::<Vec<_>>()
                .join(", ");
            let status = if r.status == "deleted" { "deleted remotely" } else { "changed by someone else" };
            let _ = writeln!(out, "| `{}` | `{}` | {status} | {attrs} |", r.address, r.kind);
        }
    }
    let accepted: Vec<_> =
        d.drifted.iter().chain(&d.accepted).flat_map(|r| r.accepted.iter().map(move |a| (r, a))).collect();
    if !accepted.is_empty() {
        let _ = writeln!(out, "\n<details><summary>Accepted drift ({})</summary>\n", accepted.len());
        let _ = writeln!(out, "| resource | attribute | reason |\n|---|---|---|");
        for (r, a) in accepted {
            let _ = writeln!(out, "| `{}` | `{}` | {} |", r.address, md_escape(&a.change.path), md_escape(&a.reason));
        }
        let _ = writeln!(out, "\n</details>");
    }
    let unmanaged: usize = d.unmanaged.iter().map(|u| u.paths.len()).sum();
    if unmanaged > 0 {
        let _ = writeln!(
            out,
            "\n_{unmanaged} field(s) set remotely and not managed by strata (server defaults, controllers) were ignored._"
        );
    }
    out
}

pub fn apply_human(report: &ApplyReport, destroy: bool, style: Style) -> String {
    let mut out = String::new();
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Failed { .. } | Outcome::Skipped { .. }))
        .collect();
    for o in &failed {
        match &o.outcome {
            Outcome::Failed { error, attempts } => {
                let _ = writeln!(
                    out,
                    "{} {}: {error} (after {attempts} attempt{})",
                    style.paint("31", "Error:"),
                    o.address,
                    if *attempts == 1 { "" } else { "s" }
                );
            }
            Outcome::Skipped { because } => {
                let _ = writeln!(
                    out,
                    "{} {}: not attempted because {because} failed",
                    style.paint("33", "Skipped:"),
                    o.address
                );
            }
            _ => {}
        }
    }
    let interrupted = report.outcomes.iter().filter(|o| o.outcome == Outcome::Interrupted).count();
    // A destroy (`strata destroy`, or a saved `plan --destroy`) speaks of destroying, as
    // Terraform does: "Destroy complete! Resources: 32 destroyed."
    let noun = if destroy { "Destroy" } else { "Apply" };
    let counts = if destroy {
        format!("{} destroyed", report.count(Action::Delete))
    } else {
        format!(
            "{} added, {} changed, {} replaced, {} destroyed",
            report.count(Action::Create),
            report.count(Action::Update),
            report.count(Action::Replace),
            report.count(Action::Delete)
        )
    };
    let line = format!(
        "{noun} {}! Resources: {counts}{}{}.",
        if report.interrupted {
            "interrupted"
        } else if failed.is_empty() {
            "complete"
        } else {
            "finished with errors"
        },
        if failed.is_empty() { String::new() } else { format!(", {} failed or skipped", failed.len()) },
        if interrupted > 0 { format!(", {interrupted} not started") } else { String::new() },
    );
    let _ = writeln!(out, "\n{}", style.bold(&line));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_documents_to_leaf_paths() {
        let v =
            serde_json::json!({"metadata": {"name": "x"}, "ports": [{"port": 80}], "tags": ["a", "b"], "empty": {}});
        let mut out = Vec::new();
        flatten(&v, &mut Vec::new(), &mut out);
        let paths: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["metadata.name", "ports[0].port", "tags", "empty"]);
    }

    #[test]
    fn unified_diff_marks_lines() {
        let d = unified_diff("a\nb\nc\n", "a\nB\nc\n", Style { color: false }, "");
        assert!(d.contains("- b") && d.contains("+ B"), "{d}");
    }
}
