//! Effective labels: the union of a file's direct assignment and every
//! enabled label rule whose `(node_id, path_prefix)` covers the file. Pure
//! functions; callers load the documents.

use mosaicfs_common::documents::{FileDoc, LabelAssignmentDoc, LabelRuleDoc};
use std::collections::BTreeSet;

/// Whether `rule` applies to `file`: enabled, same node (or `*`), and the
/// file's export path starts with the rule's prefix (which ends with `/`).
pub fn rule_covers(rule: &LabelRuleDoc, file: &FileDoc) -> bool {
    mosaicfs_common::rules::labels::rule_covers(
        rule,
        &file.source.node_id,
        &file.source.export_path,
    )
}

/// Where each effective label of a file comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectiveLabels {
    /// Labels assigned directly.
    pub direct: BTreeSet<String>,
    /// `(label, rule id, rule name)` for labels inherited from rules.
    pub inherited: Vec<(String, String, String)>,
}

impl EffectiveLabels {
    /// The union of direct and inherited labels.
    pub fn all(&self) -> BTreeSet<String> {
        let mut all = self.direct.clone();
        all.extend(self.inherited.iter().map(|(l, _, _)| l.clone()));
        all
    }
}

/// Computes the effective labels of `file`.
pub fn effective_labels(
    file: &FileDoc,
    assignment: Option<&LabelAssignmentDoc>,
    rules: &[LabelRuleDoc],
) -> EffectiveLabels {
    let mut out = EffectiveLabels::default();
    if let Some(a) = assignment {
        out.direct.extend(a.labels.iter().cloned());
    }
    for rule in rules.iter().filter(|r| rule_covers(r, file)) {
        for label in &rule.labels {
            out.inherited
                .push((label.clone(), rule.id.clone(), rule.name.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(node: &str, path: &str) -> FileDoc {
        serde_json::from_value(json!({
            "_id": "file::1", "type": "file", "inode": 1000, "name": "x",
            "source": {"node_id": node, "export_path": path, "export_parent": "/"},
            "size": 1, "mtime": "2025-01-01T00:00:00Z", "status": "active"
        }))
        .unwrap()
    }

    fn rule(id: &str, node: &str, prefix: &str, labels: &[&str], enabled: bool) -> LabelRuleDoc {
        serde_json::from_value(json!({
            "_id": id, "type": "label_rule", "node_id": node, "path_prefix": prefix,
            "labels": labels, "name": id, "enabled": enabled, "created_at": "2025-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn union_of_direct_and_matching_enabled_rules() {
        let f = file("n1", "/home/u/docs/a.pdf");
        let a: LabelAssignmentDoc = serde_json::from_value(json!({
            "_id": "label_file::1", "type": "label_assignment", "file_id": "file::1",
            "labels": ["starred", "work"], "updated_at": "2025-01-01T00:00:00Z"
        }))
        .unwrap();
        let rules = [
            rule("r1", "n1", "/home/u/docs/", &["docs", "work"], true),
            rule("r2", "*", "/home/", &["home"], true),
            rule("r3", "n2", "/home/u/docs/", &["other-node"], true),
            rule("r4", "n1", "/home/u/doc/", &["partial-name"], true),
            rule("r5", "n1", "/home/u/", &["disabled"], false),
        ];
        let e = effective_labels(&f, Some(&a), &rules);
        let all: Vec<_> = e.all().into_iter().collect();
        assert_eq!(all, ["docs", "home", "starred", "work"]);
        assert_eq!(e.direct.len(), 2);
        assert_eq!(e.inherited.len(), 3);
        assert!(effective_labels(&f, None, &[]).all().is_empty());
    }
}
