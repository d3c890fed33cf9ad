//! The materialized label cache (plan 3.3): every file's effective label set
//! (direct assignment ∪ enabled rules covering its path), held in memory so
//! the `label` step and `?label=` searches are a hash lookup, never a query.
//!
//! Pure state with incremental updates. The owner feeds it documents from the
//! changes feed; when a rule changes, the owner also passes the files the
//! rule's old and new scopes cover (a prefix query on its local index), so the
//! cache never scans every file.

use crate::documents::{FileDoc, FileStatus, LabelAssignmentDoc, LabelRuleDoc};
use std::collections::{BTreeSet, HashMap};

/// Where a file lives, as rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileLocation {
    /// File document id.
    pub file_id: String,
    /// Owning node.
    pub node_id: String,
    /// Export path.
    pub export_path: String,
}

impl FileLocation {
    /// The location of an active file document (`None` for deleted files).
    pub fn of(file: &FileDoc) -> Option<FileLocation> {
        (file.status == FileStatus::Active).then(|| FileLocation {
            file_id: file.id.clone(),
            node_id: file.source.node_id.clone(),
            export_path: file.source.export_path.clone(),
        })
    }
}

/// Whether an enabled `rule` covers a file at `node_id`/`export_path`.
pub fn rule_covers(rule: &LabelRuleDoc, node_id: &str, export_path: &str) -> bool {
    rule.enabled
        && (rule.node_id == "*" || rule.node_id == node_id)
        && export_path.starts_with(&rule.path_prefix)
}

/// The cache.
#[derive(Debug, Default)]
pub struct LabelCache {
    /// file id → direct labels.
    assignments: HashMap<String, Vec<String>>,
    /// rule id → rule (enabled or not).
    rules: HashMap<String, LabelRuleDoc>,
    /// file id → effective labels; only non-empty sets are stored.
    effective: HashMap<String, BTreeSet<String>>,
}

impl LabelCache {
    /// The effective labels of a file (`None` means none).
    pub fn get(&self, file_id: &str) -> Option<&BTreeSet<String>> {
        self.effective.get(file_id)
    }

    /// Number of files with at least one label.
    pub fn len(&self) -> usize {
        self.effective.len()
    }

    /// Whether no file has a label.
    pub fn is_empty(&self) -> bool {
        self.effective.is_empty()
    }

    /// Recomputes one file from its assignment and the current rules.
    pub fn refresh_file(&mut self, loc: &FileLocation) {
        let mut set: BTreeSet<String> = self
            .assignments
            .get(&loc.file_id)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default();
        for r in self.rules.values() {
            if rule_covers(r, &loc.node_id, &loc.export_path) {
                set.extend(r.labels.iter().cloned());
            }
        }
        if set.is_empty() {
            self.effective.remove(&loc.file_id);
        } else {
            self.effective.insert(loc.file_id.clone(), set);
        }
    }

    /// A file was created, changed (possibly moved) or deleted. `loc` is
    /// `None` for a deleted file.
    pub fn file_changed(&mut self, file_id: &str, loc: Option<&FileLocation>) {
        match loc {
            Some(l) => self.refresh_file(l),
            None => {
                self.effective.remove(file_id);
            }
        }
    }

    /// An assignment was written; `loc` is the file's location if the file is
    /// known and active.
    pub fn assignment_changed(&mut self, a: &LabelAssignmentDoc, loc: Option<&FileLocation>) {
        self.assignments.insert(a.file_id.clone(), a.labels.clone());
        if let Some(l) = loc {
            self.refresh_file(l);
        }
    }

    /// An assignment was deleted.
    pub fn assignment_removed(&mut self, file_id: &str, loc: Option<&FileLocation>) {
        self.assignments.remove(file_id);
        match loc {
            Some(l) => self.refresh_file(l),
            None => {
                self.effective.remove(file_id);
            }
        }
    }

    /// The previous version of a rule, if the cache knows it (so the owner
    /// can query the files of its old scope too).
    pub fn rule(&self, rule_id: &str) -> Option<&LabelRuleDoc> {
        self.rules.get(rule_id)
    }

    /// A rule was created, changed, enabled, disabled or (`rule` = `None`)
    /// deleted. `affected` must hold every active file covered by the old or
    /// the new scope.
    pub fn rule_changed<'a>(
        &mut self,
        rule_id: &str,
        rule: Option<&LabelRuleDoc>,
        affected: impl IntoIterator<Item = &'a FileLocation>,
    ) {
        match rule {
            Some(r) => {
                self.rules.insert(rule_id.to_string(), r.clone());
            }
            None => {
                self.rules.remove(rule_id);
            }
        }
        for loc in affected {
            self.refresh_file(loc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn loc(id: &str, node: &str, path: &str) -> FileLocation {
        FileLocation {
            file_id: id.into(),
            node_id: node.into(),
            export_path: path.into(),
        }
    }

    fn rule(id: &str, node: &str, prefix: &str, labels: &[&str], enabled: bool) -> LabelRuleDoc {
        serde_json::from_value(json!({
            "_id": id, "type": "label_rule", "node_id": node, "path_prefix": prefix,
            "labels": labels, "name": id, "enabled": enabled, "created_at": "2025-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn assignment(file: &str, labels: &[&str]) -> LabelAssignmentDoc {
        serde_json::from_value(json!({
            "_id": "label_file::x", "type": "label_assignment", "file_id": file,
            "labels": labels, "updated_at": "2025-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn labels(c: &LabelCache, id: &str) -> Vec<String> {
        c.get(id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn incremental_updates_match_a_full_recomputation() {
        let a = loc("file::a", "n1", "/docs/work/a.pdf");
        let b = loc("file::b", "n1", "/docs/home/b.pdf");
        let c = loc("file::c", "n2", "/docs/work/c.pdf");
        let mut cache = LabelCache::default();
        for l in [&a, &b, &c] {
            cache.file_changed(&l.file_id, Some(l));
        }
        assert!(cache.is_empty(), "no labels yet: nothing stored");

        cache.assignment_changed(&assignment("file::a", &["starred"]), Some(&a));
        assert_eq!(labels(&cache, "file::a"), ["starred"]);

        let work = rule("r1", "n1", "/docs/work/", &["work"], true);
        cache.rule_changed("r1", Some(&work), [&a]);
        assert_eq!(labels(&cache, "file::a"), ["starred", "work"]);
        assert!(cache.get("file::c").is_none(), "other node");

        let all = rule("r2", "*", "/docs/", &["docs"], true);
        cache.rule_changed("r2", Some(&all), [&a, &b, &c]);
        assert_eq!(labels(&cache, "file::c"), ["docs"]);

        // Disabling a rule removes its labels; the direct ones stay.
        let mut off = work.clone();
        off.enabled = false;
        cache.rule_changed("r1", Some(&off), [&a]);
        assert_eq!(labels(&cache, "file::a"), ["docs", "starred"]);

        // A move out of a rule's scope.
        let moved = loc("file::b", "n1", "/elsewhere/b.pdf");
        cache.file_changed("file::b", Some(&moved));
        assert!(cache.get("file::b").is_none());

        // Deleting the rule and the assignment leaves nothing.
        cache.rule_changed("r2", None, [&a, &c]);
        cache.assignment_removed("file::a", Some(&a));
        assert!(cache.is_empty(), "{cache:?}");

        // A deleted file drops out even if a rule still covers it.
        cache.rule_changed("r3", Some(&rule("r3", "n2", "/docs/", &["x"], true)), [&c]);
        assert_eq!(labels(&cache, "file::c"), ["x"]);
        cache.file_changed("file::c", None);
        assert!(cache.get("file::c").is_none());
    }
}
