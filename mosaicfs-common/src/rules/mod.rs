//! The step pipeline: compiling a mount's filter steps (validation with
//! errors that name the step and field) and evaluating them against one file.
//!
//! Pure and deterministic: everything a step needs (the time, the file's
//! effective labels, its annotations) is passed in; nothing here does I/O.
//!
//! Semantics (`docs/architecture.md`, "Rule engine"): steps run in order,
//! inherited ancestor steps first. Each step computes a match and applies
//! `invert`. With `on_match`, a match returns `on_match` at once; without it,
//! a non-match returns `exclude` and a match continues. When the steps run
//! out the mount's `default_result` applies. So an ancestor's exclude always
//! beats a child's include.

use crate::documents::{Step, StepOp, StepResult};
use crate::time::Timestamp;
use globset::{Glob, GlobBuilder, GlobMatcher};
use regex::Regex;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

/// A step that cannot be compiled, with the path of the offending field
/// (e.g. `mounts[0].steps[2].pattern`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct StepError {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// A validated, ready-to-run step.
#[derive(Debug, Clone)]
pub struct CompiledStep {
    matcher: Matcher,
    invert: bool,
    on_match: Option<StepResult>,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// Against the name when the pattern has no `/`, else the relative path.
    Glob {
        glob: GlobMatcher,
        whole_path: bool,
    },
    /// Against the file name.
    Regex(Regex),
    Age {
        min_days: Option<f64>,
        max_days: Option<f64>,
    },
    Size {
        min: Option<u64>,
        max: Option<u64>,
    },
    Mime(Vec<GlobMatcher>),
    Node(HashSet<String>),
    Label(Vec<String>),
    Annotation {
        plugin: String,
        key: String,
        value: Option<Value>,
    },
}

/// What a step may look at for one file.
pub struct Candidate<'a> {
    /// Path relative to the mount's source (no leading `/`).
    pub relative_path: &'a str,
    /// File name.
    pub name: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// MIME type, if known.
    pub mime_type: Option<&'a str>,
    /// Owning node.
    pub node_id: &'a str,
    /// Effective labels (direct ∪ rules).
    pub labels: &'a BTreeSet<String>,
    /// Annotation data by plugin name.
    pub annotations: &'a dyn Annotations,
}

/// Annotation lookup for the `annotation` op.
pub trait Annotations {
    /// The `data` object written by `plugin` for this file, if any.
    fn data(&self, plugin: &str) -> Option<&Value>;
}

/// No annotations.
pub struct NoAnnotations;

impl Annotations for NoAnnotations {
    fn data(&self, _: &str) -> Option<&Value> {
        None
    }
}

impl Annotations for std::collections::HashMap<String, Value> {
    fn data(&self, plugin: &str) -> Option<&Value> {
        self.get(plugin)
    }
}

fn err(field: &str, name: &str, message: impl Into<String>) -> StepError {
    StepError {
        field: if name.is_empty() {
            field.to_string()
        } else {
            format!("{field}.{name}")
        },
        message: message.into(),
    }
}

fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g: Glob| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

fn non_empty_list<'a>(
    list: &'a Option<Vec<String>>,
    field: &str,
    name: &str,
) -> Result<&'a [String], StepError> {
    match list {
        Some(l) if !l.is_empty() && l.iter().all(|s| !s.trim().is_empty()) => Ok(l),
        Some(l) if !l.is_empty() => Err(err(field, name, "entries must not be empty")),
        _ => Err(err(field, name, "is required and must not be empty")),
    }
}

/// Parses a size: a non-negative integer of bytes, or a string with a unit:
/// `B`, `KB`/`MB`/`GB`/`TB` (powers of 1000), `KiB`/`MiB`/`GiB`/`TiB`
/// (powers of 1024); a bare number means bytes. Case-insensitive units,
/// optional space, decimals allowed (`1.5GB`).
pub fn parse_size(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("{n} is not a non-negative whole number of bytes")),
        Value::String(s) => {
            let t = s.trim();
            let split = t
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(t.len());
            let (num, unit) = t.split_at(split);
            let num: f64 = num
                .parse()
                .map_err(|_| format!("{s:?} does not start with a number"))?;
            let unit = unit.trim();
            let mult: f64 = match unit.to_ascii_lowercase().as_str() {
                "" | "b" => 1.0,
                "kb" => 1e3,
                "mb" => 1e6,
                "gb" => 1e9,
                "tb" => 1e12,
                "kib" => 1024.0,
                "mib" => 1024.0 * 1024.0,
                "gib" => 1024.0 * 1024.0 * 1024.0,
                "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
                _ => {
                    return Err(format!(
                        "unknown unit {unit:?} in {s:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
                    ));
                }
            };
            let bytes = num * mult;
            if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
                return Err(format!("{s:?} is out of range"));
            }
            Ok(bytes.round() as u64)
        }
        other => Err(format!(
            "{other} is not a size (a number of bytes or a string like \"10MB\")"
        )),
    }
}

fn days(v: Option<f64>, field: &str, name: &str) -> Result<Option<f64>, StepError> {
    match v {
        Some(d) if !d.is_finite() || d < 0.0 => {
            Err(err(field, name, "must be a non-negative number of days"))
        }
        other => Ok(other),
    }
}

/// Compiles one step. `field` is the path of the step, e.g.
/// `mounts[0].steps[2]`; errors extend it with the parameter's name.
pub fn compile_step(step: &Step, field: &str) -> Result<CompiledStep, StepError> {
    let need = |v: &Option<String>, name: &str| -> Result<String, StepError> {
        match v {
            Some(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(err(
                field,
                name,
                format!("is required for op {:?}", op_name(&step.op)),
            )),
        }
    };
    let matcher = match &step.op {
        StepOp::Glob => {
            let p = need(&step.pattern, "pattern")?;
            let glob =
                glob(&p).map_err(|e| err(field, "pattern", format!("invalid glob {p:?}: {e}")))?;
            Matcher::Glob {
                whole_path: p.contains('/'),
                glob,
            }
        }
        StepOp::Regex => {
            let p = need(&step.pattern, "pattern")?;
            let re = regex::RegexBuilder::new(&p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| err(field, "pattern", format!("invalid regex {p:?}: {e}")))?;
            Matcher::Regex(re)
        }
        StepOp::Age => {
            let (min_days, max_days) = (
                days(step.min_days, field, "min_days")?,
                days(step.max_days, field, "max_days")?,
            );
            if min_days.is_none() && max_days.is_none() {
                return Err(err(
                    field,
                    "max_days",
                    "an age step needs max_days or min_days",
                ));
            }
            if let (Some(lo), Some(hi)) = (min_days, max_days)
                && lo > hi
            {
                return Err(err(field, "min_days", "is larger than max_days"));
            }
            Matcher::Age { min_days, max_days }
        }
        StepOp::Size => {
            let min = step
                .min
                .as_ref()
                .map(parse_size)
                .transpose()
                .map_err(|m| err(field, "min", m))?;
            let max = step
                .max
                .as_ref()
                .map(parse_size)
                .transpose()
                .map_err(|m| err(field, "max", m))?;
            if min.is_none() && max.is_none() {
                return Err(err(field, "min", "a size step needs min or max"));
            }
            if let (Some(lo), Some(hi)) = (min, max)
                && lo > hi
            {
                return Err(err(field, "min", "is larger than max"));
            }
            Matcher::Size { min, max }
        }
        StepOp::Mime => {
            let types = non_empty_list(&step.types, field, "types")?;
            let mut globs = Vec::with_capacity(types.len());
            for (i, t) in types.iter().enumerate() {
                globs.push(glob(&t.to_ascii_lowercase()).map_err(|e| {
                    err(
                        field,
                        &format!("types[{i}]"),
                        format!("invalid pattern {t:?}: {e}"),
                    )
                })?);
            }
            Matcher::Mime(globs)
        }
        StepOp::Node => {
            let ids = non_empty_list(&step.node_ids, field, "node_ids")?;
            if let Some(bad) = ids.iter().find(|n| !crate::ids::is_valid_node_id(n)) {
                return Err(err(field, "node_ids", format!("{bad:?} is not a node id")));
            }
            Matcher::Node(ids.iter().cloned().collect())
        }
        StepOp::Label => Matcher::Label(non_empty_list(&step.labels, field, "labels")?.to_vec()),
        StepOp::Annotation => Matcher::Annotation {
            plugin: need(&step.plugin_name, "plugin_name")?,
            key: need(&step.key, "key")?,
            value: step.value.clone(),
        },
        StepOp::Unknown(name) => {
            return Err(err(
                field,
                "op",
                format!(
                    "unknown op {name:?} (known: glob, regex, age, size, mime, node, label, annotation)"
                ),
            ));
        }
    };
    Ok(CompiledStep {
        matcher,
        invert: step.invert,
        on_match: step.on_match,
    })
}

fn op_name(op: &StepOp) -> String {
    match op {
        StepOp::Unknown(s) => s.clone(),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    }
}

/// Compiles a list of steps; `field` is the path of the list, e.g.
/// `mounts[0].steps`.
pub fn compile_steps(steps: &[Step], field: &str) -> Result<Vec<CompiledStep>, StepError> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| compile_step(s, &format!("{field}[{i}]")))
        .collect()
}

const SECONDS_PER_DAY: f64 = 86_400.0;

impl CompiledStep {
    /// Whether the step matches `file` (before `invert`).
    fn raw_match(&self, file: &Candidate<'_>, now: Timestamp) -> bool {
        match &self.matcher {
            Matcher::Glob { glob, whole_path } => glob.is_match(if *whole_path {
                file.relative_path
            } else {
                file.name
            }),
            Matcher::Regex(re) => re.is_match(file.name),
            Matcher::Age { min_days, max_days } => {
                let age = (now - file.mtime).num_milliseconds() as f64 / 1000.0 / SECONDS_PER_DAY;
                min_days.is_none_or(|d| age >= d) && max_days.is_none_or(|d| age <= d)
            }
            Matcher::Size { min, max } => {
                min.is_none_or(|m| file.size >= m) && max.is_none_or(|m| file.size <= m)
            }
            Matcher::Mime(globs) => file.mime_type.is_some_and(|m| {
                let m = m.to_ascii_lowercase();
                globs.iter().any(|g| g.is_match(&m))
            }),
            Matcher::Node(ids) => ids.contains(file.node_id),
            Matcher::Label(labels) => labels.iter().any(|l| file.labels.contains(l)),
            Matcher::Annotation { plugin, key, value } => file
                .annotations
                .data(plugin)
                .and_then(|d| d.get(key))
                .is_some_and(|v| value.as_ref().is_none_or(|want| want == v)),
        }
    }

    /// Whether the step matches, `invert` applied.
    pub fn matches(&self, file: &Candidate<'_>, now: Timestamp) -> bool {
        self.raw_match(file, now) != self.invert
    }
}

/// Runs `steps` (inherited steps first, then the mount's) over `file`.
pub fn evaluate<'s>(
    steps: impl IntoIterator<Item = &'s CompiledStep>,
    default_result: StepResult,
    file: &Candidate<'_>,
    now: Timestamp,
) -> StepResult {
    for step in steps {
        let m = step.matches(file, now);
        match (m, step.on_match) {
            (true, Some(result)) => return result,
            (true, None) | (false, Some(_)) => {}
            (false, None) => return StepResult::Exclude,
        }
    }
    default_result
}

pub mod labels;
pub mod readdir;

#[cfg(test)]
mod tests;
