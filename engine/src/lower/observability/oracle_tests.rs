//! The generated rules and routing checked by the real Prometheus tools: `promtool check rules`,
//! `promtool test rules` (the burn-rate alerts fire on synthetic series as the SRE workbook
//! says they should) and `amtool` (the routing reaches the right receiver).
//!
//! promtool and amtool come from the Debian packages `prometheus` and `prometheus-alertmanager`
//! (scripts/test.sh and .ci/run install them). A missing tool fails the test: these are the
//! oracles, and a test that skips them proves nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::alerts::alertmanager_yaml;
use super::slo::ALERT_NAME;
use super::tests::{by_address, example, lower_ok};

/// The tool `name` on PATH; fails the test with the install command when it is missing.
fn tool(name: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()));
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` is not on PATH; it is the oracle of this test and must be installed: \
             `sudo apt-get install -y {package}` (scripts/test.sh and .ci/run do this)"
        )
    })
}

fn promtool() -> PathBuf {
    tool("promtool", "prometheus")
}

fn amtool() -> PathBuf {
    tool("amtool", "prometheus-alertmanager")
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Writes the rule groups of a PrometheusRule as a Prometheus rule file (JSON is YAML).
fn write_rules(dir: &Path, name: &str, rule: &Value) -> PathBuf {
    let file = dir.join(format!("{name}.rules.yml"));
    std::fs::write(&file, serde_json::to_string_pretty(&rule["spec"]).unwrap()).unwrap();
    file
}

#[test]
fn promtool_accepts_every_generated_rule_group() {
    let promtool = promtool();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for env in [None, Some("staging")] {
        for r in lower_ok(&example(), env).iter().filter(|r| r.kind.ends_with("/PrometheusRule")) {
            let name = format!("{}-{}", env.unwrap_or("base"), r.attrs["metadata"]["name"].as_str().unwrap());
            files.push(write_rules(dir.path(), &name, &r.attrs));
        }
    }
    // Two SLOs in the base spec; staging replaces the list with one.
    assert_eq!(files.len(), 3);
    let (ok, out) = run(Command::new(&promtool).arg("check").arg("rules").args(&files));
    assert!(ok, "promtool check rules failed:\n{out}");
    // 8 SLI + 7 meta recordings and 2 alerts per SLO.
    assert_eq!(out.matches("SUCCESS: 17 rules found").count(), 3, "{out}");
    // And promtool is a real check: a broken expression is refused.
    let mut broken =
        lower_ok(&example(), None).into_iter().find(|r| r.kind.ends_with("/PrometheusRule")).unwrap().attrs;
    broken["spec"]["groups"][0]["rules"][0]["expr"] = json!("sum(rate(x[5m])");
    let f = write_rules(dir.path(), "broken", &broken);
    let (ok, out) = run(Command::new(&promtool).arg("check").arg("rules").arg(&f));
    assert!(!ok, "{out}");
}

/// The labels and annotations of the availability SLO's alert of `severity`, as Prometheus
/// sends it (the expression's labels plus the rule's).
fn expected_alert(rule: &Value, severity: &str) -> Value {
    let alerts = rule["spec"]["groups"][2]["rules"].as_array().unwrap();
    let a = alerts.iter().find(|a| a["labels"]["severity"] == severity).unwrap();
    let mut labels = a["labels"].clone();
    labels["sloth_id"] = json!("api-api-availability");
    labels["sloth_service"] = json!("api");
    labels["sloth_slo"] = json!("api-availability");
    json!({ "exp_labels": labels, "exp_annotations": a["annotations"] })
}

#[test]
fn burn_rate_alerts_fire_as_the_sre_workbook_says() {
    let promtool = promtool();
    let dir = tempfile::tempdir().unwrap();
    let rs = lower_ok(&example(), None);
    let rule = &by_address(&rs, "observability.slo.api-availability").attrs;
    assert!(rule["spec"]["groups"][2]["rules"][0]["expr"].as_str().unwrap().contains("(14.4 * 0.001)"));
    let rules = write_rules(dir.path(), "availability", rule);
    let page = expected_alert(rule, "page");
    let ticket = expected_alert(rule, "ticket");

    // Requests per minute: 1000, of which `errors` fail (a 99.9% SLO has a budget of 1/1000,
    // so `errors` is the burn rate), for `minutes` from t=0: 4400 minutes is a little over 3
    // days, so at 3d every window up to the 3d one is full of history at that ratio.
    let series = |errors: f64, minutes: u32| {
        json!([
            { "series": "http_requests_total{job=\"api\",code=\"200\"}", "values": format!("0+{}x{minutes}", 1000.0 - errors) },
            { "series": "http_requests_total{job=\"api\",code=\"500\"}", "values": format!("0+{errors}x{minutes}") },
        ])
    };
    let alert_at =
        |t: &str, alerts: Vec<&Value>| json!({ "eval_time": t, "alertname": ALERT_NAME, "exp_alerts": alerts });
    let budget_left = |t: &str, v: f64| {
        json!({
            "expr": "round(slo:period_error_budget_remaining:ratio{sloth_id=\"api-api-availability\"}, 0.001)",
            "eval_time": t,
            // The period's window label stays, as in Sloth's rules.
            "exp_samples": [{ "labels": "{sloth_id=\"api-api-availability\", sloth_service=\"api\", sloth_slo=\"api-availability\", sloth_window=\"30d\"}", "value": v }],
        })
    };
    // The groups of a rule file are evaluated one after the other, alerts before the SLI
    // recordings they read (as in Prometheus, where they may even run apart), so an alert sees
    // the recordings of the previous evaluation. Two files: the 5-minute check evaluates every
    // minute over a short history; the long-window checks every 5 minutes over 3 days (1m
    // would be 5× the work for the same answers: nothing here uses `for`).
    let fast = json!({
        "rule_files": [rules],
        "evaluation_interval": "1m",
        "tests": [
            // 15× the budget (just above the 14.4× threshold: the comparison is strict): the
            // page fires at 5 minutes; the ticket too (Alertmanager inhibits it).
            {
                "interval": "1m",
                "input_series": series(15.0, 10),
                "alert_rule_test": [ alert_at("5m", vec![&page, &ticket]) ],
            },
            {
                "interval": "1m",
                "input_series": series(0.5, 10),
                "alert_rule_test": [ alert_at("5m", vec![]) ],
            },
        ],
    });
    let filled = json!({
        "rule_files": [rules],
        "evaluation_interval": "5m",
        "tests": [
            // 15× with every window full: page (and ticket).
            {
                "interval": "1m",
                "input_series": series(15.0, 4400),
                "alert_rule_test": [ alert_at("3d", vec![&page, &ticket]) ],
            },
            // 3× the budget: a ticket, never a page.
            {
                "interval": "1m",
                "input_series": series(3.0, 4400),
                "alert_rule_test": [ alert_at("1d", vec![&ticket]), alert_at("3d", vec![&ticket]) ],
            },
            // Half the budget: within the SLO, nothing fires; half the period's budget is left.
            {
                "interval": "1m",
                "input_series": series(0.5, 4400),
                "alert_rule_test": [ alert_at("3d", vec![]) ],
                "promql_expr_test": [ budget_left("3d", 0.5) ],
            },
        ],
    });
    for (name, test_file) in [("fast", fast), ("filled", filled)] {
        let file = dir.path().join(format!("slo_{name}_test.yml"));
        std::fs::write(&file, serde_json::to_string_pretty(&test_file).unwrap()).unwrap();
        let started = std::time::Instant::now();
        let (ok, out) = run(Command::new(&promtool).arg("test").arg("rules").arg(&file).current_dir(dir.path()));
        assert!(ok, "promtool test rules ({name}) failed:\n{out}");
        assert!(out.contains("SUCCESS"), "{out}");
        eprintln!("promtool test rules ({name}): {:?}", started.elapsed());
    }
}

/// The routing as an alertmanager.yml: valid for amtool, and a page of the availability SLO
/// reaches `oncall`, a ticket `team`.
#[test]
fn amtool_accepts_the_routing_and_routes_by_severity() {
    let amtool = amtool();
    let dir = tempfile::tempdir().unwrap();
    let rs = lower_ok(&example(), None);
    let namespaces: Vec<String> = rs
        .iter()
        .filter(|r| r.kind.ends_with("/AlertmanagerConfig"))
        .map(|r| r.attrs["metadata"]["namespace"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(namespaces, ["apex"]);
    let names = crate::lower::test_names();
    let (p, _) = crate::spec::parse_spec_with_env("strata.yaml", example().as_str(), None, &names, &|_| None)
        .unwrap_or_else(|d| panic!("{:?}", d.items));
    let mut cx = p.context(&names);
    let config = crate::lower::Section::decode(&super::Observability, &mut cx, &p.doc["observability"]).unwrap();
    let yml = alertmanager_yaml(&namespaces, config.alerts.as_ref().unwrap());
    let text = serde_json::to_string_pretty(&yml).unwrap();
    // Credentials are files, never values.
    assert!(text.contains("routing_key_file") && text.contains("api_url_file"), "{text}");
    let file = dir.path().join("alertmanager.yml");
    std::fs::write(&file, &text).unwrap();

    let (ok, out) = run(Command::new(&amtool).arg("check-config").arg(&file));
    assert!(ok, "amtool check-config failed:\n{out}\n{text}");
    assert!(out.contains("SUCCESS"), "{out}");

    let route = |labels: &[&str]| {
        let (ok, out) =
            run(Command::new(&amtool).args(["config", "routes", "test", "--config.file"]).arg(&file).args(labels));
        assert!(ok, "amtool config routes test {labels:?} failed:\n{out}");
        // The first line is the receiver; amtool adds a warning about --alertmanager.url.
        out.lines().next().unwrap_or_default().trim().to_string()
    };
    assert_eq!(route(&["severity=page", "slo=api-availability", "namespace=apex"]), "oncall");
    assert_eq!(route(&["severity=ticket", "slo=api-availability", "namespace=apex"]), "team");
    // Another namespace's alerts are not this spec's to route.
    assert_eq!(route(&["severity=page", "slo=api-availability", "namespace=other"]), "unrouted");
    // And amtool is a real check: a route to an undeclared receiver is refused.
    let mut broken = yml.clone();
    broken["route"]["routes"][0]["routes"][0]["receiver"] = json!("nobody");
    std::fs::write(&file, serde_json::to_string_pretty(&broken).unwrap()).unwrap();
    let (ok, out) = run(Command::new(&amtool).arg("check-config").arg(&file));
    assert!(!ok, "{out}");
}
