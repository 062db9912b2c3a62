use serde_json::{Map, Value, json};
use strata_sdk::Resource;

use super::testutil::{example, python_validate, workspace_root};
use super::{DATA_KEY, EvalError, Flags, Reason, context_from_pairs, evaluate_at, flags_from_resources};
use crate::diag::{Diagnostics, SpecDiagnostic};

const HEAD: &str = "version: 1\nproject: apex\nservices:\n  web: { namespace: shop, port: 8080 }\n  api: { namespace: apex, port: 8080 }\n";

fn lower_env(text: &str, env: Option<&str>) -> (Vec<Resource>, Diagnostics) {
    crate::lower::lower_for_test(&Flags, text, env, &|_| None)
}

fn lower(body: &str) -> (Vec<Resource>, Diagnostics, String) {
    let text = format!("{HEAD}{body}");
    let (r, d) = lower_env(&text, None);
    (r, d, text)
}

fn span_text<'a>(text: &'a str, d: &SpecDiagnostic) -> &'a str {
    let s = d.span.unwrap_or_else(|| panic!("no span on {d:?}"));
    &text[s.offset..s.offset + s.len]
}

fn expect_one(body: &str, code: &str, span: &str) -> SpecDiagnostic {
    let (_, d, text) = lower(body);
    assert_eq!(d.len(), 1, "expected one diagnostic, got {:#?}", d.items);
    let diag = d.items[0].clone();
    assert_eq!(diag.code, code, "{diag:#?}");
    assert_eq!(span_text(&text, &diag), span, "{diag:#?}");
    if !diag.code.starts_with("spec::") {
        assert!(diag.detail.ends_with('.'), "detail is a sentence: {}", diag.detail);
    }
    diag
}

/// The flagd document inside a flag ConfigMap.
fn document(r: &Resource) -> Value {
    serde_json::from_str(r.attrs["data"][DATA_KEY].as_str().expect("flags.json")).expect("valid JSON")
}

/// The `"flags"` object of the only ConfigMap.
fn only_flags(body: &str) -> Value {
    let (rs, d, _) = lower(body);
    assert!(d.is_empty(), "{:?}", d.items);
    assert_eq!(rs.len(), 1, "{rs:#?}");
    document(&rs[0])["flags"].clone()
}

fn ctx(v: Value) -> Map<String, Value> {
    v.as_object().expect("object").clone()
}

#[test]
fn boolean_flag_with_rollout() {
    let (rs, d, _) = lower("flags:\n  new-checkout: { default: false, rollout: { true: 10% } }\n");
    assert!(d.is_empty(), "{:?}", d.items);
    assert_eq!(rs.len(), 1);
    let cm = &rs[0];
    assert_eq!(cm.address.as_str(), "flags.shop", "default namespace: the first service's (document order)");
    assert_eq!(cm.kind, "v1/ConfigMap");
    assert_eq!(cm.attrs["metadata"], json!({"name": "apex-flags", "namespace": "shop"}));
    let doc = document(cm);
    assert_eq!(doc["$schema"], "https://flagd.dev/schema/v0/flags.json");
    assert_eq!(
        doc["flags"]["new-checkout"],
        json!({
            "state": "ENABLED",
            "variants": {"on": true, "off": false},
            "defaultVariant": "off",
            "targeting": {"fractional": [["on", 10], ["off", 90]]},
        })
    );
}

#[test]
fn variants_rules_and_sticky_rollout_compile_to_jsonlogic() {
    let flags = only_flags(
        "flags:\n  model-tier:\n    variants: { small: gpt-small, large: gpt-large }\n    default: small\n    rules:\n      - if: { email_ends_with: \"@apex.dev\" }\n        then: large\n      - if: { in: { plan: [enterprise] }, starts_with: { region: eu- } }\n        then: { small: 50%, large: 50% }\n    rollout: { small: 90%, large: 10% }\n    targeting_key: userId\n",
    );
    let sticky = |a: u64, b: u64| {
        json!({"if": [
            {"missing": ["userId"]},
            null,
            {"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "userId"}]}, ["small", a], ["large", b]]},
        ]})
    };
    assert_eq!(
        flags["model-tier"]["targeting"],
        json!({"if": [
            {"ends_with": [{"var": "email"}, "@apex.dev"]}, "large",
            {"and": [{"!!": [{"starts_with": [{"var": "region"}, "eu-"]}]}, {"in": [{"var": "plan"}, ["enterprise"]]}]},
            sticky(50, 50),
            sticky(90, 10),
        ]})
    );
}

#[test]
fn conditions_compile_to_flagd_operators() {
    let flags = only_flags(
        "flags:\n  f:\n    default: false\n    rules:\n      - { if: { email_ends_with: [\"@a.dev\", \"@b.dev\"] }, then: true }\n      - { if: { ends_with: { host: .internal } }, then: true }\n      - { if: { contains: { agent: Mobile } }, then: true }\n      - { if: { equals: { beta: true } }, then: on }\n      - { if: { not_in: { country: [us, ca] } }, then: off }\n",
    );
    assert_eq!(
        flags["f"]["targeting"]["if"],
        json!([
            {"or": [{"ends_with": [{"var": "email"}, "@a.dev"]}, {"ends_with": [{"var": "email"}, "@b.dev"]}]}, "on",
            {"ends_with": [{"var": "host"}, ".internal"]}, "on",
            {"in": ["Mobile", {"var": "agent"}]}, "on",
            {"==": [{"var": "beta"}, true]}, "on",
            {"!": {"in": [{"var": "country"}, ["us", "ca"]]}}, "off",
            null,
        ])
    );
}

#[test]
fn full_rollout_becomes_the_default_and_disabled_flags_stay_disabled() {
    let flags = only_flags(
        "flags:\n  a: { default: false, rollout: { true: 100% } }\n  b: { default: true, state: disabled, description: old }\n  c: { variants: { x: 1, y: 2.5 }, default: x, rollout: { x: 0.5%, y: 99.5% } }\n",
    );
    assert_eq!(flags["a"], json!({"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}));
    assert_eq!(
        flags["b"],
        json!({"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "metadata": {"description": "old"}})
    );
    assert_eq!(flags["c"]["targeting"], json!({"fractional": [["x", 5], ["y", 995]]}));
}

#[test]
fn flags_go_to_one_configmap_per_namespace() {
    let (rs, d, _) = lower(
        "flags:\n  namespace: apex\n  a: { default: false }\n  b: { default: false, namespace: shop }\n  c: { default: true }\n",
    );
    assert!(d.is_empty(), "{:?}", d.items);
    let addrs: Vec<&str> = rs.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(addrs, ["flags.apex", "flags.shop"]);
    let keys = |r: &Resource| document(r)["flags"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&rs[0]), ["a", "c"]);
    assert_eq!(keys(&rs[1]), ["b"]);
}

#[test]
fn rollout_must_add_up_to_100() {
    let d = expect_one(
        "flags:\n  m: { variants: { small: s, large: l }, default: small, rollout: { small: 80%, large: 10% } }\n",
        "flags::rollout-sum",
        "rollout",
    );
    assert!(d.detail.contains("add up to 90%"), "{}", d.detail);
    assert_eq!(d.help.as_deref(), Some("give the remaining 10% to a variant"));
    expect_one(
        "flags:\n  b: { default: false, rollout: { true: 60%, false: 60% } }\n",
        "flags::rollout-sum",
        "rollout",
    );
    // A boolean rollout naming one side gives the rest to the other: no diagnostic.
    let flags = only_flags("flags:\n  b: { default: true, rollout: { false: 30% } }\n");
    assert_eq!(flags["b"]["targeting"], json!({"fractional": [["off", 30], ["on", 70]]}));
}

#[test]
fn unknown_default_suggests_a_variant() {
    let d = expect_one(
        "flags:\n  m: { variants: { small: s, large: l }, default: smal }\n",
        "flags::unknown-default",
        "smal",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `small`?"));
    let d = expect_one("flags:\n  b: { default: maybe }\n", "flags::unknown-default", "maybe");
    assert_eq!(d.help.as_deref(), Some("declared variants: on, off"));
}

#[test]
fn unknown_variants_in_rollouts_and_rules() {
    let d = expect_one(
        "flags:\n  m: { variants: { small: s, large: l }, default: small, rollout: { small: 90%, lrge: 10% } }\n",
        "flags::unknown-variant",
        "lrge",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `large`?"));
    expect_one(
        "flags:\n  m: { variants: { small: s, large: l }, default: small, rules: [ { if: { equals: { a: 1 } }, then: huge } ] }\n",
        "flags::unknown-variant",
        "huge",
    );
}

#[test]
fn mixed_variant_types() {
    let d = expect_one(
        "flags:\n  m: { variants: { small: gpt-small, large: 2 }, default: small }\n",
        "flags::mixed-variant-types",
        "2",
    );
    assert!(d.detail.contains("`large` is a number but `small` is a string"), "{}", d.detail);
    expect_one("flags:\n  m: { variants: { a: null, b: 2 }, default: b }\n", "flags::invalid-variant", "null");
}

#[test]
fn unknown_rule_operator_suggests_a_known_one() {
    let d = expect_one(
        "flags:\n  b: { default: false, rules: [ { if: { email_endswith: \"@a.dev\" }, then: true } ] }\n",
        "flags::unknown-operator",
        "email_endswith",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `email_ends_with`?"));
    expect_one("flags:\n  b: { default: false, rules: [ { if: {}, then: true } ] }\n", "flags::empty-condition", "if");
}

#[test]
fn unknown_flag_keys_and_bad_percentages() {
    let d = expect_one("flags:\n  b: { default: false, rolout: { true: 5% } }\n", "spec::unknown-key", "rolout");
    assert_eq!(d.help.as_deref(), Some("did you mean `rollout`?"));
    expect_one("flags:\n  b: { default: false, rollout: { true: 120% } }\n", "spec::invalid-value", "120%");
}

#[test]
fn namespace_problems() {
    let text = "version: 1\nproject: apex\nflags:\n  b: { default: false }\n";
    let (_, d) = lower_env(text, None);
    assert_eq!(d.items.iter().map(|d| d.code).collect::<Vec<_>>(), ["flags::no-namespace"]);
    assert_eq!(span_text(text, &d.items[0]), "b");
    expect_one("flags:\n  b: { default: false, namespace: Bad_NS }\n", "flags::invalid-namespace", "Bad_NS");
}

#[test]
fn one_pass_reports_every_problem() {
    let (_, d, text) = lower(
        "flags:\n  a: { default: nope }\n  b: { variants: { x: 1, y: \"2\" }, default: x, rules: [ { if: { equls: { k: 1 } }, then: x } ] }\n  c: { default: false, rollout: { on: 50%, off: 40% } }\n",
    );
    let got: Vec<(&str, &str)> = d.items.iter().map(|d| (d.code, span_text(&text, d))).collect();
    assert_eq!(
        got,
        [
            ("flags::unknown-default", "nope"),
            ("flags::mixed-variant-types", "\"2\""),
            ("flags::unknown-operator", "equls"),
            ("flags::rollout-sum", "rollout"),
        ]
    );
}

#[test]
fn environments_change_the_rollout() {
    // dev: fully on; staging: 50%; prod (no overlay): the base 10%; a null removes the rollout.
    let text = format!("{}  qa:\n    flags:\n      new-checkout: {{ rollout: null }}\n", example());
    let flag = |env: Option<&str>| {
        let (rs, d) = lower_env(&text, env);
        assert!(d.is_empty(), "{env:?}: {:?}", d.items);
        flags_from_resources(&rs)["new-checkout"].clone()
    };
    let dev = flag(Some("dev"));
    assert_eq!(dev["defaultVariant"], "on");
    assert!(dev.get("targeting").is_none(), "{dev}");
    assert_eq!(flag(Some("staging"))["targeting"], json!({"fractional": [["on", 50], ["off", 50]]}));
    assert_eq!(flag(Some("prod"))["targeting"], json!({"fractional": [["on", 10], ["off", 90]]}));
    let qa = flag(Some("qa"));
    assert_eq!((qa["defaultVariant"].clone(), qa.get("targeting")), (json!("off"), None));
    // And evaluation follows: in dev everyone is in, in prod user-9 is (bucket < 10).
    let everyone = |env| {
        let (rs, _) = lower_env(&text, env);
        evaluate_at(&flags_from_resources(&rs), "new-checkout", &ctx(json!({"targetingKey": "user-0"})), 0)
            .unwrap()
            .variant
    };
    assert_eq!(everyone(Some("dev")), "on");
    assert_eq!(everyone(Some("prod")), "off");
}

// ---- evaluation ----

/// Expected `fractional` assignments, derived independently of strata with
/// tests/validate/fractional_expected.py: flagd's algorithm (core/pkg/evaluator/fractional.go:
/// murmur3 x86_32 seed 0 of flagKey+targetingKey, `bucket = (hash * totalWeight) >> 32`) with
/// the hash from Python's `mmh3` package. Each row: (targeting key, expected variant).
const NEW_CHECKOUT_10: &[(&str, &str)] = &[
    ("user-0", "off"),
    ("user-1", "off"),
    ("user-2", "off"),
    ("user-3", "off"),
    ("user-4", "off"),
    ("user-5", "off"),
    ("user-6", "off"),
    ("user-7", "off"),
    ("user-8", "off"),
    ("user-9", "on"),
    ("user-10", "off"),
    ("user-11", "off"),
    ("user-12", "off"),
    ("user-13", "off"),
    ("user-14", "on"),
    ("user-15", "off"),
    ("user-16", "off"),
    ("user-17", "off"),
    ("user-18", "off"),
    ("user-19", "off"),
    ("user-20", "off"),
    ("user-21", "off"),
    ("user-22", "off"),
    ("user-23", "off"),
];

/// model-tier, `{ small: 90%, large: 10% }` bucketed on flagKey + userId (same derivation).
const MODEL_TIER_BY_USER_ID: &[(&str, &str)] = &[
    ("u-1", "small"),
    ("u-2", "small"),
    ("u-3", "small"),
    ("u-19", "large"),
    ("u-26", "large"),
    ("u-42", "small"),
    ("u-50", "large"),
    ("alice", "small"),
    ("bob", "small"),
    ("mallory", "small"),
    ("ünï", "small"),
];

/// `color`: red 50, blue 25, green 25 (same derivation).
const COLOR_THREE_WAY: &[(&str, &str)] = &[
    ("a", "red"),
    ("b", "blue"),
    ("c", "red"),
    ("d", "red"),
    ("e", "red"),
    ("f", "blue"),
    ("g", "blue"),
    ("s", "green"),
    ("t", "green"),
    ("x", "green"),
    ("y", "green"),
];

/// `canary`: on 0.5%, off 99.5% -> weights 5/995 (same derivation).
const CANARY_HALF_PERCENT: &[(&str, &str)] = &[
    ("k0", "on"),
    ("k1", "off"),
    ("k2", "off"),
    ("k3", "off"),
    ("k116", "on"),
    ("k180", "on"),
    ("k390", "on"),
    ("k4577", "off"),
];

#[test]
fn fractional_matches_flagd_bucketing() {
    let flags = only_flags(
        "flags:\n  new-checkout: { default: false, rollout: { true: 10% } }\n  model-tier: { variants: { small: s, large: l }, default: small, rollout: { small: 90%, large: 10% }, targeting_key: userId }\n  color: { variants: { red: r, blue: b, green: g }, default: red, rollout: { red: 50%, blue: 25%, green: 25% } }\n  canary: { default: false, rollout: { true: 0.5% } }\n",
    );
    let check = |flag: &str, attr: &str, table: &[(&str, &str)]| {
        for (key, want) in table {
            let e = evaluate_at(&flags, flag, &ctx(json!({ attr: key })), 0).unwrap();
            assert_eq!((key, e.variant.as_str(), e.reason), (key, *want, Reason::TargetingMatch), "{flag}");
        }
    };
    check("new-checkout", "targetingKey", NEW_CHECKOUT_10);
    check("model-tier", "userId", MODEL_TIER_BY_USER_ID);
    check("color", "targetingKey", COLOR_THREE_WAY);
    check("canary", "targetingKey", CANARY_HALF_PERCENT);
}

/// flagd's own expectations for its fractional operator (open-feature/flagd
/// core/pkg/evaluator/fractional_test.go, `TestFractionalEvaluation`, the integer-weight
/// version), run against flagd's own targeting documents.
#[test]
fn fractional_matches_flagd_test_suite() {
    let colors = json!({"red": "#FF0000", "blue": "#0000FF", "green": "#00FF00", "yellow": "#FFFF00"});
    let four = json!([["red", 25], ["blue", 25], ["green", 25], ["yellow", 25]]);
    let with_bucket = |bucket: Value| {
        let mut args = vec![bucket];
        args.extend(four.as_array().unwrap().iter().cloned());
        json!({"if": [{"in": ["@faas.com", {"var": ["email"]}]}, {"fractional": args}, null]})
    };
    let flag = |targeting: Value| json!({"state": "ENABLED", "defaultVariant": "red", "variants": colors, "targeting": targeting});
    let flags = json!({
        "headerColor": flag(with_bucket(json!({"cat": [{"var": "$flagd.flagKey"}, {"var": "email"}]}))),
        "customSeededHeaderColor": flag(with_bucket(json!({"cat": ["my-seed", {"var": "email"}]}))),
        "footerColor": flag(with_bucket(json!({"var": "email"}))),
        "nonEven": flag(json!({"if": [{"in": ["@faas.com", {"var": ["email"]}]}, {"fractional": ["email", ["red", 50], ["blue", 25], ["green", 25]]}, null]})),
        "noEmail": flag(json!({"fractional": [{"var": "email"}, ["red", 25], ["blue", 25], ["green", 25], ["yellow", 25]]})),
        "nonPercentage": flag(json!({"fractional": [{"var": "email"}, ["red", 25], ["blue", 25]]})),
        "unweighted": flag(json!({"fractional": [{"var": "email"}, ["red"], ["blue"]]})),
        "byTargetingKey": flag(json!({"fractional": [["blue", 50], ["green", 50]]})),
        "missingEmail": flag(json!({"fractional": [{"var": "email"}, ["red", 50], ["blue", 50]]})),
    });
    let cases: &[(&str, Value, &str, Reason)] = &[
        ("headerColor", json!({"email": "rachel@faas.com"}), "blue", Reason::TargetingMatch),
        ("headerColor", json!({"email": "monica@faas.com"}), "yellow", Reason::TargetingMatch),
        ("headerColor", json!({"email": "joey@faas.com"}), "red", Reason::TargetingMatch),
        ("headerColor", json!({"email": "ross@faas.com"}), "blue", Reason::TargetingMatch),
        ("customSeededHeaderColor", json!({"email": "rachel@faas.com"}), "green", Reason::TargetingMatch),
        ("customSeededHeaderColor", json!({"email": "monica@faas.com"}), "red", Reason::TargetingMatch),
        ("customSeededHeaderColor", json!({"email": "joey@faas.com"}), "blue", Reason::TargetingMatch),
        ("customSeededHeaderColor", json!({"email": "ross@faas.com"}), "green", Reason::TargetingMatch),
        ("footerColor", json!({"email": "ross@faas.com"}), "red", Reason::TargetingMatch),
        ("nonEven", json!({"email": "test4@faas.com"}), "green", Reason::TargetingMatch),
        ("noEmail", json!({}), "red", Reason::Default),
        ("nonPercentage", json!({"email": "foo@foo.com"}), "blue", Reason::TargetingMatch),
        ("unweighted", json!({"email": "foo@foo.com"}), "blue", Reason::TargetingMatch),
        ("byTargetingKey", json!({"targetingKey": "foo@foo.com"}), "green", Reason::TargetingMatch),
        ("missingEmail", json!({"targetingKey": "foo@foo.com"}), "blue", Reason::TargetingMatch),
    ];
    // flagd's test names the flag `headerColor` where the key matters; our keys differ only
    // where the bucketing value does not involve the flag key, except `byTargetingKey` and
    // `missingEmail`, which bucket on flagKey+targetingKey: evaluate those as `headerColor`.
    for (name, context, want, reason) in cases {
        let key = if matches!(*name, "byTargetingKey" | "missingEmail") { "headerColor" } else { name };
        let mut doc = flags.clone();
        doc[key] = flags[*name].clone();
        let e = evaluate_at(&doc, key, &ctx(context.clone()), 0).unwrap();
        assert_eq!((name, e.variant.as_str(), e.reason), (name, *want, *reason));
        assert_eq!(e.value, colors[*want]);
    }
}

#[test]
fn evaluation_reasons_and_errors() {
    let (rs, d) = lower_env(&example(), None);
    assert!(d.is_empty(), "{:?}", d.items);
    let flags = flags_from_resources(&rs);
    let eval = |flag: &str, c: Value| evaluate_at(&flags, flag, &ctx(c), 1_700_000_000);

    // Rule match.
    let e = eval("model-tier", json!({"email": "ana@apex.dev", "userId": "u-1"})).unwrap();
    assert_eq!((e.variant.as_str(), e.value.clone(), e.reason), ("large", json!("gpt-large"), Reason::TargetingMatch));
    // Second rule: both conditions must hold; a missing region fails it.
    let e = eval("model-tier", json!({"plan": "enterprise", "userId": "u-1"})).unwrap();
    assert_eq!(e.variant, "small");
    // Sticky rollout on userId; without userId the default is served.
    assert_eq!(eval("model-tier", json!({"userId": "u-19"})).unwrap().variant, "large");
    let e = eval("model-tier", json!({"targetingKey": "u-19"})).unwrap();
    assert_eq!((e.variant.as_str(), e.reason), ("small", Reason::Default));
    // No rule matches: the default, with reason DEFAULT. Numbers stay numbers.
    let e = eval("max-upload-mb", json!({})).unwrap();
    assert_eq!((e.variant.as_str(), e.value.clone(), e.reason), ("default", json!(25), Reason::Default));
    let e = eval("max-upload-mb", json!({"plan": "enterprise"})).unwrap();
    assert_eq!((e.variant.as_str(), e.value.clone()), ("big", json!(100)));
    // A rollout with no targeting key in the context: flagd cannot bucket, serves the default.
    let e = eval("new-checkout", json!({})).unwrap();
    assert_eq!((e.variant.as_str(), e.value.clone(), e.reason), ("off", json!(false), Reason::Default));
    // Errors carry flagd's codes.
    assert_eq!(eval("search-v2", json!({})).unwrap_err().code(), "FLAG_DISABLED");
    assert_eq!(eval("nope", json!({})).unwrap_err(), EvalError::FlagNotFound("nope".into()));

    // STATIC for a flag without targeting.
    let flags = json!({"f": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"}, "g": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a", "targeting": {}}});
    for f in ["f", "g"] {
        assert_eq!(evaluate_at(&flags, f, &Map::new(), 0).unwrap().reason, Reason::Static);
    }
    // Targeting naming no variant is a parse error; unsupported operators are reported as such.
    let flags = json!({"f": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a", "targeting": {"if": [true, "zzz"]}}, "g": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a", "targeting": {"sem_ver": ["1.0.0", ">", "0.1.0"]}}});
    assert_eq!(evaluate_at(&flags, "f", &Map::new(), 0).unwrap_err().code(), "PARSE_ERROR");
    assert_eq!(evaluate_at(&flags, "g", &Map::new(), 0).unwrap_err(), EvalError::Unsupported("sem_ver".into()));
}

#[test]
fn jsonlogic_semantics_follow_flagd() {
    let flag = |t: Value| json!({"f": {"state": "ENABLED", "variants": {"yes": true, "no": false, "true": true}, "defaultVariant": "no", "targeting": t}});
    let run = |t: Value, c: Value| evaluate_at(&flag(t), "f", &ctx(c), 42).map(|e| e.variant);
    // `$flagd.flagKey` and `$flagd.timestamp` are injected.
    assert_eq!(run(json!({"if": [{"==": [{"var": "$flagd.flagKey"}, "f"]}, "yes", "no"]}), json!({})).unwrap(), "yes");
    assert_eq!(run(json!({"if": [{"==": [{"var": "$flagd.timestamp"}, 42]}, "yes", "no"]}), json!({})).unwrap(), "yes");
    // Loose equality coerces; strict does not.
    assert_eq!(run(json!({"if": [{"==": [{"var": "n"}, "1"]}, "yes", "no"]}), json!({"n": 1})).unwrap(), "yes");
    assert_eq!(run(json!({"if": [{"===": [{"var": "n"}, "1"]}, "yes", "no"]}), json!({"n": 1})).unwrap(), "no");
    // A boolean result names the variant "true".
    assert_eq!(run(json!({"==": [1, 1]}), json!({})).unwrap(), "true");
    // flagd's `and` skips null operands (starts_with on a missing attribute is null): strata
    // wraps starts_with in `!!` so a missing attribute fails the rule.
    assert_eq!(
        run(json!({"if": [{"and": [{"starts_with": [{"var": "r"}, "eu"]}, true]}, "yes", "no"]}), json!({})).unwrap(),
        "yes"
    );
    assert_eq!(
        run(json!({"if": [{"and": [{"!!": [{"starts_with": [{"var": "r"}, "eu"]}]}, true]}, "yes", "no"]}), json!({}))
            .unwrap(),
        "no"
    );
    // Nested attributes, `in` on strings and lists, `missing`.
    assert_eq!(
        run(json!({"if": [{"in": ["x", {"var": "a.b"}]}, "yes", "no"]}), json!({"a": {"b": "wxy"}})).unwrap(),
        "yes"
    );
    assert_eq!(run(json!({"if": [{"in": [{"var": "c"}, [1, 2]]}, "yes", "no"]}), json!({"c": 2})).unwrap(), "yes");
    assert_eq!(run(json!({"if": [{"missing": ["c"]}, "yes", "no"]}), json!({})).unwrap(), "yes");
}

#[test]
fn context_from_key_value_pairs() {
    let c = context_from_pairs(&[
        "targetingKey=42",
        "email=ana@apex.dev",
        "beta=true",
        "n=3",
        "user.plan=pro",
        "tags=[\"a\"]",
    ])
    .unwrap();
    assert_eq!(
        Value::Object(c),
        json!({"targetingKey": "42", "email": "ana@apex.dev", "beta": true, "n": 3, "user": {"plan": "pro"}, "tags": ["a"]})
    );
    assert!(context_from_pairs(&["novalue"]).is_err());
    assert!(context_from_pairs(&["a=1", "a.b=2"]).is_err());
    // Nested attributes reach rules through dotted paths.
    let flags =
        only_flags("flags:\n  f: { default: false, rules: [ { if: { equals: { user.plan: pro } }, then: true } ] }\n");
    let e = evaluate_at(&flags, "f", &context_from_pairs(&["user.plan=pro"]).unwrap(), 0).unwrap();
    assert_eq!(e.variant, "on");
}

/// The example's flag ConfigMaps, golden (the ConfigMap as applied, and its flagd document).
#[test]
fn example_snapshot() {
    let (rs, d) = lower_env(&example(), None);
    assert!(d.is_empty(), "{:?}", d.items);
    let view: Vec<Value> = rs
        .iter()
        .map(|r| json!({"address": r.address.as_str(), "kind": r.kind, "manifest": r.attrs, "flagd": document(r)}))
        .collect();
    insta::assert_yaml_snapshot!("example", view);
}

/// Every flag document the example generates, in every environment, against flagd's official
/// JSON Schema (tests/validate/validate_flagd.py); the ConfigMaps with kubernetes-validate.
#[test]
fn example_documents_validate_against_official_schemas() {
    let mut docs = Vec::new();
    let mut manifests = Vec::new();
    let text = format!("{}  qa:\n    flags:\n      new-checkout: {{ rollout: null }}\n", example());
    for env in [None, Some("dev"), Some("staging"), Some("prod"), Some("qa")] {
        let (rs, d) = lower_env(&text, env);
        assert!(d.is_empty(), "{:?}", d.items);
        docs.extend(rs.iter().map(document));
        manifests.extend(rs.into_iter().map(|r| r.attrs));
    }
    // Every rule form strata compiles, too.
    let (rs, d, _) = lower(
        "flags:\n  all:\n    variants: { a: { x: 1 }, b: { x: 2 } }\n    default: a\n    targeting_key: org\n    rules:\n      - { if: { email_ends_with: [\"@a.dev\", \"@b.dev\"], ends_with: { h: .x }, starts_with: { r: eu }, contains: { u: M }, equals: { n: 3, t: true }, in: { p: [x, 2] }, not_in: { c: [us] } }, then: b }\n      - { if: { equals: { p: x } }, then: { a: 33.3%, b: 66.7% } }\n    rollout: { a: 1%, b: 99% }\n",
    );
    assert!(d.is_empty(), "{:?}", d.items);
    docs.extend(rs.iter().map(document));
    python_validate(&workspace_root().join("tests/validate/validate_flagd.py"), &docs);
    // A broken document must fail: the validator is not a no-op.
    let broken = json!({"flags": {"x": {"state": "ON", "variants": {"a": 1}, "defaultVariant": "b"}}});
    let script = workspace_root().join("tests/validate/validate_flagd.py");
    let result = std::panic::catch_unwind(|| python_validate(&script, &[broken]));
    assert!(result.is_err(), "validate_flagd.py accepted an invalid document");
    python_validate(&workspace_root().join("tests/validate/validate_manifests.py"), &manifests);
}
