//! The step pipeline, op by op, with and without `invert`, and its
//! composition rules.

use super::*;
use crate::documents::{Step, StepOp, StepResult};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};

fn now() -> Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

struct File {
    rel: &'static str,
    size: u64,
    age_days: i64,
    mime: Option<&'static str>,
    node: &'static str,
    labels: BTreeSet<String>,
    annotations: HashMap<String, Value>,
}

fn file(rel: &'static str) -> File {
    File {
        rel,
        size: 1000,
        age_days: 10,
        mime: Some("application/pdf"),
        node: "node-a",
        labels: BTreeSet::new(),
        annotations: HashMap::new(),
    }
}

impl File {
    fn run(&self, steps: &[CompiledStep], default: StepResult) -> StepResult {
        let c = Candidate {
            relative_path: self.rel,
            name: self.rel.rsplit('/').next().unwrap(),
            size: self.size,
            mtime: now() - chrono::Duration::days(self.age_days),
            mime_type: self.mime,
            node_id: self.node,
            labels: &self.labels,
            annotations: &self.annotations,
        };
        evaluate(steps, default, &c, now())
    }
}

fn step(v: Value) -> Step {
    serde_json::from_value(v).unwrap()
}

fn compiled(v: Value) -> CompiledStep {
    compile_step(&step(v), "steps[0]").unwrap()
}

/// Checks one single-step pipeline (default include) for a matching and a
/// non-matching file, with and without `invert`.
fn check_op(spec: Value, matching: &File, other: &File) {
    use StepResult::*;
    let plain = compiled(spec.clone());
    assert_eq!(
        matching.run(std::slice::from_ref(&plain), Include),
        Include,
        "{spec} should match"
    );
    assert_eq!(
        other.run(std::slice::from_ref(&plain), Include),
        Exclude,
        "{spec} should not match"
    );
    let mut inv = spec.clone();
    inv["invert"] = json!(true);
    let inv = compiled(inv);
    assert_eq!(
        matching.run(std::slice::from_ref(&inv), Include),
        Exclude,
        "inverted {spec}"
    );
    assert_eq!(
        other.run(std::slice::from_ref(&inv), Include),
        Include,
        "inverted {spec}"
    );
}

#[test]
fn glob_matches_the_name_or_with_a_slash_the_relative_path() {
    check_op(
        json!({"op": "glob", "pattern": "*.pdf"}),
        &file("deep/dir/report.pdf"),
        &file("deep/dir/report.txt"),
    );
    check_op(
        json!({"op": "glob", "pattern": "archive/**"}),
        &file("archive/2020/x.pdf"),
        &file("current/archive.pdf"),
    );
    check_op(
        json!({"op": "glob", "pattern": "*.{pdf,md}"}),
        &file("notes.md"),
        &file("notes.mdx"),
    );
}

#[test]
fn regex_matches_the_name() {
    check_op(
        json!({"op": "regex", "pattern": "URGENT"}),
        &file("a/URGENT-plan.docx"),
        &file("URGENT/plan.docx"),
    );
    check_op(
        json!({"op": "regex", "pattern": "^\\d{4}-"}),
        &file("2025-report.pdf"),
        &file("report-2025.pdf"),
    );
}

#[test]
fn age_size_mime_node_label_annotation() {
    let mut old = file("old.pdf");
    old.age_days = 400;
    check_op(json!({"op": "age", "max_days": 90}), &file("new.pdf"), &old);
    check_op(
        json!({"op": "age", "min_days": 365}),
        &old,
        &file("new.pdf"),
    );

    let mut big = file("big.mkv");
    big.size = 5_000_000_000;
    check_op(
        json!({"op": "size", "min": "1GB"}),
        &big,
        &file("small.txt"),
    );
    check_op(json!({"op": "size", "max": 4096}), &file("small.txt"), &big);

    let mut img = file("a.png");
    img.mime = Some("image/png");
    let mut unknown = file("a.bin");
    unknown.mime = None;
    check_op(
        json!({"op": "mime", "types": ["image/*"]}),
        &img,
        &file("a.pdf"),
    );
    check_op(
        json!({"op": "mime", "types": ["image/*", "application/pdf"]}),
        &file("a.pdf"),
        &unknown,
    );

    let mut b = file("b.pdf");
    b.node = "node-b";
    check_op(
        json!({"op": "node", "node_ids": ["node-b", "node-c"]}),
        &b,
        &file("a.pdf"),
    );

    let mut labelled = file("l.pdf");
    labelled.labels.insert("work".into());
    check_op(
        json!({"op": "label", "labels": ["home", "work"]}),
        &labelled,
        &file("l.pdf"),
    );

    let mut annotated = file("x.pdf");
    annotated
        .annotations
        .insert("lang".into(), json!({"language": "en", "pages": 3}));
    let mut other_value = file("y.pdf");
    other_value
        .annotations
        .insert("lang".into(), json!({"language": "fr"}));
    check_op(
        json!({"op": "annotation", "plugin_name": "lang", "key": "language", "value": "en"}),
        &annotated,
        &other_value,
    );
    check_op(
        json!({"op": "annotation", "plugin_name": "lang", "key": "pages"}),
        &annotated,
        &other_value,
    );
}

#[test]
fn on_match_short_circuits_and_default_applies_when_steps_run_out() {
    use StepResult::*;
    // The plan's example: pdf/docx/md, not under archive, URGENT always in,
    // otherwise at most 90 days old.
    let steps = compile_steps(
        &[
            step(json!({"op": "glob", "pattern": "*.{pdf,docx,md}"})),
            step(json!({"op": "glob", "pattern": "archive/**", "invert": true})),
            step(json!({"op": "regex", "pattern": "URGENT", "on_match": "include"})),
            step(json!({"op": "age", "max_days": 90})),
        ],
        "steps",
    )
    .unwrap();
    let mut old_urgent = file("URGENT.pdf");
    old_urgent.age_days = 1000;
    let mut old = file("plain.pdf");
    old.age_days = 1000;
    assert_eq!(
        old_urgent.run(&steps, Include),
        Include,
        "short-circuit skips the age step"
    );
    assert_eq!(old.run(&steps, Include), Exclude);
    assert_eq!(file("plain.pdf").run(&steps, Include), Include);
    assert_eq!(
        file("archive/URGENT.pdf").run(&steps, Include),
        Exclude,
        "earlier exclude wins"
    );
    assert_eq!(file("x.txt").run(&steps, Include), Exclude);

    // An on_match exclude step.
    let s = compile_steps(
        &[step(
            json!({"op": "glob", "pattern": "*.tmp", "on_match": "exclude"}),
        )],
        "s",
    )
    .unwrap();
    assert_eq!(file("a.tmp").run(&s, Include), Exclude);
    assert_eq!(
        file("a.txt").run(&s, Include),
        Include,
        "no match: continue to the default"
    );
    assert_eq!(file("a.txt").run(&s, Exclude), Exclude);
}

#[test]
fn empty_steps_return_the_default() {
    assert_eq!(file("x").run(&[], StepResult::Include), StepResult::Include);
    assert_eq!(file("x").run(&[], StepResult::Exclude), StepResult::Exclude);
}

#[test]
fn inherited_steps_run_first_and_their_exclude_beats_a_childs_include() {
    use StepResult::*;
    let parent = compile_steps(
        &[step(
            json!({"op": "glob", "pattern": "*.tmp", "invert": true}),
        )],
        "p",
    )
    .unwrap();
    let child = compile_steps(
        &[step(
            json!({"op": "glob", "pattern": "*", "on_match": "include"}),
        )],
        "c",
    )
    .unwrap();
    let chain = || parent.iter().chain(child.iter());
    let run = |f: &File| {
        let c = Candidate {
            relative_path: f.rel,
            name: f.rel,
            size: f.size,
            mtime: now(),
            mime_type: f.mime,
            node_id: f.node,
            labels: &f.labels,
            annotations: &NoAnnotations,
        };
        evaluate(chain(), Exclude, &c, now())
    };
    assert_eq!(
        run(&file("a.tmp")),
        Exclude,
        "the ancestor's exclude wins over the child's include"
    );
    assert_eq!(run(&file("a.txt")), Include);
}

#[test]
fn bad_steps_are_rejected_naming_the_field() {
    let check = |v: Value, field: &str, needle: &str| {
        let e = compile_steps(
            &[step(json!({"op": "glob", "pattern": "*"})), step(v.clone())],
            "mounts[0].steps",
        )
        .unwrap_err();
        assert_eq!(e.field, field, "{v}: {e}");
        assert!(e.message.contains(needle), "{v}: {e}");
    };
    check(
        json!({"op": "glob", "pattern": "a[b"}),
        "mounts[0].steps[1].pattern",
        "invalid glob",
    );
    check(
        json!({"op": "glob"}),
        "mounts[0].steps[1].pattern",
        "required",
    );
    check(
        json!({"op": "regex", "pattern": "(unclosed"}),
        "mounts[0].steps[1].pattern",
        "invalid regex",
    );
    check(
        json!({"op": "size", "min": "10 parsecs"}),
        "mounts[0].steps[1].min",
        "unknown unit \"parsecs\"",
    );
    check(
        json!({"op": "size", "max": -5}),
        "mounts[0].steps[1].max",
        "not a non-negative",
    );
    check(
        json!({"op": "size", "min": "2GB", "max": "1GB"}),
        "mounts[0].steps[1].min",
        "larger than max",
    );
    check(json!({"op": "size"}), "mounts[0].steps[1].min", "needs min");
    check(
        json!({"op": "age", "max_days": -1}),
        "mounts[0].steps[1].max_days",
        "non-negative",
    );
    check(
        json!({"op": "age"}),
        "mounts[0].steps[1].max_days",
        "needs max_days",
    );
    check(
        json!({"op": "mime", "types": []}),
        "mounts[0].steps[1].types",
        "must not be empty",
    );
    check(
        json!({"op": "node"}),
        "mounts[0].steps[1].node_ids",
        "required",
    );
    check(
        json!({"op": "label", "labels": [""]}),
        "mounts[0].steps[1].labels",
        "must not be empty",
    );
    check(
        json!({"op": "annotation", "plugin_name": "p"}),
        "mounts[0].steps[1].key",
        "required",
    );
    check(
        json!({"op": "teleport"}),
        "mounts[0].steps[1].op",
        "unknown op \"teleport\"",
    );
}

#[test]
fn sizes_parse_with_units() {
    for (v, want) in [
        (json!(0), 0u64),
        (json!(123), 123),
        (json!("123"), 123),
        (json!("10MB"), 10_000_000),
        (json!("10 mb"), 10_000_000),
        (json!("1.5GB"), 1_500_000_000),
        (json!("1KiB"), 1024),
        (json!("2MiB"), 2 * 1024 * 1024),
        (json!("1TiB"), 1u64 << 40),
        (json!("7B"), 7),
    ] {
        assert_eq!(parse_size(&v), Ok(want), "{v}");
    }
    for bad in [
        json!("MB"),
        json!("1.2.3MB"),
        json!(true),
        json!(1.5),
        json!("5 furlongs"),
        json!(""),
    ] {
        assert!(parse_size(&bad).is_err(), "{bad}");
    }
}

#[test]
fn unknown_ops_survive_parsing_but_never_compile() {
    let s = step(json!({"op": "access_age", "max_days": 3}));
    assert_eq!(s.op, StepOp::Unknown("access_age".into()));
    assert!(compile_step(&s, "x").is_err());
}
