//! Raising and resolving `notification` documents (plan 7.1, 7.2, 7.4),
//! shared by the agent (source = its node id) and the server (source =
//! `control_plane`).
//!
//! - **One document per condition**: `_id` is
//!   `notification::{source}::{condition_key}`, so a recurring condition
//!   updates its document instead of piling up new ones.
//! - **Edges, not levels**: callers report the condition's state on every
//!   check ([`Notifier::raise`] while it holds, [`Notifier::resolve`] when
//!   it does not); only a change of state is written. An acknowledged
//!   notification whose condition persists stays acknowledged.
//! - **Flapping is rate-limited**: at most one write per condition per
//!   `min_interval`; state changes in between are coalesced into the next
//!   write, and `occurrence_count` counts every start of the condition. A
//!   condition that flaps a thousand times is one document with a count of
//!   a thousand and a handful of revisions.
//! - **Conflicts** (the agent raises while the control plane acknowledges
//!   the replicated copy) are merged by [`merge_notification_revisions`]:
//!   the revision with the newest `updated_at` wins, `occurrence_count` is
//!   the largest.

use crate::couch::{CouchClient, CouchError};
use crate::documents::NotificationSeverity;
use crate::ids;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `source.node_id` of the control plane's notifications.
pub const CONTROL_PLANE: &str = "control_plane";

/// What a notification says.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Stable condition id (`storage_near_capacity:{filesystem}`, …).
    pub condition_key: String,
    /// `crawler`, `storage`, `replication`, …
    pub component: String,
    /// Severity.
    pub severity: NotificationSeverity,
    /// Short title.
    pub title: String,
    /// Full sentence(s).
    pub message: String,
    /// Buttons: `{label, api}`.
    pub actions: Vec<(String, String)>,
}

impl Notice {
    /// A notice without actions.
    pub fn new(
        condition_key: impl Into<String>,
        component: impl Into<String>,
        severity: NotificationSeverity,
        title: impl Into<String>,
        message: impl Into<String>,
    ) -> Notice {
        Notice {
            condition_key: condition_key.into(),
            component: component.into(),
            severity,
            title: title.into(),
            message: message.into(),
            actions: Vec::new(),
        }
    }
}

/// Merges conflicting revisions of a notification document: the one with
/// the newest `updated_at` (RFC 3339 strings sort by time), with the
/// largest `occurrence_count` of any.
pub fn merge_notification_revisions(revisions: &[Value]) -> Option<Value> {
    let key = |v: &Value| {
        v.get("updated_at")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut best = revisions.first()?;
    for r in &revisions[1..] {
        if key(r) > key(best) {
            best = r;
        }
    }
    let count = revisions
        .iter()
        .filter_map(|r| r.get("occurrence_count").and_then(Value::as_u64))
        .max()
        .unwrap_or(1);
    let mut out = best.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("occurrence_count".into(), json!(count));
        if let Some(rev) = revisions[0].get("_rev") {
            o.insert("_rev".into(), rev.clone());
        }
    }
    Some(out)
}

#[derive(Debug, Default)]
struct KeyState {
    /// What the document says (`None`: not read yet).
    active: Option<bool>,
    /// What the caller last reported.
    wanted: bool,
    /// Starts of the condition not yet written.
    starts: u64,
    /// The latest notice for it.
    notice: Option<Notice>,
    last_write: Option<Instant>,
    flush_scheduled: bool,
}

/// Writes the notifications of one source into one database.
#[derive(Clone)]
pub struct Notifier(Arc<Inner>);

struct Inner {
    db: CouchClient,
    source: String,
    min_interval: Duration,
    keys: Mutex<HashMap<String, KeyState>>,
}

/// Default spacing of writes for one condition.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(10);

impl Notifier {
    /// Notifications of `source` (a node id or [`CONTROL_PLANE`]) in `db`.
    pub fn new(db: CouchClient, source: &str, min_interval: Duration) -> Notifier {
        Notifier(Arc::new(Inner {
            db,
            source: source.to_string(),
            min_interval,
            keys: Mutex::new(HashMap::new()),
        }))
    }

    /// The document id of `condition_key`.
    pub fn id(&self, condition_key: &str) -> String {
        ids::notification_id(&self.0.source, condition_key)
    }

    /// The condition holds (call on every check).
    pub async fn raise(&self, notice: Notice) -> Result<(), CouchError> {
        let key = notice.condition_key.clone();
        self.report(&key, true, Some(notice)).await
    }

    /// The condition does not hold (call on every check).
    pub async fn resolve(&self, condition_key: &str) -> Result<(), CouchError> {
        self.report(condition_key, false, None).await
    }

    /// Writes `notice` once for the source's lifetime (an `info` such as
    /// "first crawl complete"): nothing if the document exists.
    pub async fn once(&self, notice: Notice) -> Result<(), CouchError> {
        let id = self.id(&notice.condition_key);
        if self.0.db.get_value(&id).await?.is_some() {
            return Ok(());
        }
        self.write(&id, &notice.condition_key, true, 1, Some(&notice))
            .await
    }

    async fn report(
        &self,
        key: &str,
        active: bool,
        notice: Option<Notice>,
    ) -> Result<(), CouchError> {
        let known = self.lock().get(key).and_then(|s| s.active);
        if known.is_none() {
            let stored = self.0.db.get_value(&self.id(key)).await?;
            let is_active = stored
                .as_ref()
                .and_then(|d| d.get("status"))
                .and_then(Value::as_str)
                .is_some_and(|s| s == "active" || s == "acknowledged");
            let mut keys = self.lock();
            let st = keys.entry(key.to_string()).or_default();
            if st.active.is_none() {
                st.active = Some(is_active);
                st.wanted = is_active;
            }
        }
        let due = {
            let mut keys = self.lock();
            let st = keys.entry(key.to_string()).or_default();
            if active && !st.wanted {
                st.starts += 1;
            }
            st.wanted = active;
            if notice.is_some() {
                st.notice = notice;
            }
            if st.active == Some(st.wanted) && st.starts == 0 {
                return Ok(());
            }
            match st.last_write {
                Some(t) if t.elapsed() < self.0.min_interval => {
                    if !st.flush_scheduled {
                        st.flush_scheduled = true;
                        Some(self.0.min_interval - t.elapsed())
                    } else {
                        None
                    }
                }
                _ => Some(Duration::ZERO),
            }
        };
        match due {
            None => Ok(()),
            Some(d) if d.is_zero() => self.flush(key).await,
            Some(d) => {
                let me = self.clone();
                let key = key.to_string();
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    if let Err(e) = me.flush(&key).await {
                        tracing::warn!(operation = "notify", condition_key = %key, error = %e,
                            "cannot write a notification; the next check retries");
                    }
                });
                Ok(())
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeyState>> {
        self.0.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the pending state of `key`.
    async fn flush(&self, key: &str) -> Result<(), CouchError> {
        let (wanted, starts, notice) = {
            let mut keys = self.lock();
            let st = keys.entry(key.to_string()).or_default();
            st.flush_scheduled = false;
            st.last_write = Some(Instant::now());
            (st.wanted, std::mem::take(&mut st.starts), st.notice.clone())
        };
        let id = self.id(key);
        let r = self.write(&id, key, wanted, starts, notice.as_ref()).await;
        let mut keys = self.lock();
        let st = keys.entry(key.to_string()).or_default();
        match &r {
            Ok(()) => st.active = Some(wanted),
            // Not written: count the starts again and let the next report retry.
            Err(_) => {
                st.starts += starts;
                st.last_write = None;
            }
        }
        r
    }

    async fn write(
        &self,
        id: &str,
        key: &str,
        active: bool,
        starts: u64,
        notice: Option<&Notice>,
    ) -> Result<(), CouchError> {
        let now = crate::time::format(&crate::time::now());
        let source = self.0.source.clone();
        let started = Instant::now();
        let written = self
            .0
            .db
            .update_merging(id, merge_notification_revisions, |stored| {
                let stored = stored.filter(Value::is_object);
                if !active {
                    // Resolve: only a current notification.
                    let mut doc = stored?;
                    let resolved = doc.get("status").and_then(Value::as_str) == Some("resolved");
                    let o = doc.as_object_mut()?;
                    if resolved {
                        if starts == 0 {
                            return None;
                        }
                    } else {
                        o.insert("resolved_at".into(), json!(now));
                    }
                    let count = o
                        .get("occurrence_count")
                        .and_then(Value::as_u64)
                        .unwrap_or(1);
                    o.insert("occurrence_count".into(), json!(count + starts));
                    o.insert("status".into(), json!("resolved"));
                    o.insert("updated_at".into(), json!(now));
                    return Some(doc);
                }
                let notice = notice?;
                let mut doc = stored.unwrap_or_else(|| {
                    json!({
                        "type": "notification",
                        "first_seen": now,
                        "occurrence_count": 0,
                    })
                });
                let o = doc.as_object_mut()?;
                let was_current = matches!(
                    o.get("status").and_then(Value::as_str),
                    Some("active" | "acknowledged")
                );
                let count = o
                    .get("occurrence_count")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                o.insert("occurrence_count".into(), json!((count + starts).max(1)));
                if !was_current {
                    o.insert("status".into(), json!("active"));
                    o.remove("resolved_at");
                    o.remove("acknowledged_at");
                }
                o.insert(
                    "source".into(),
                    json!({"node_id": source, "component": notice.component}),
                );
                o.insert("severity".into(), json!(notice.severity));
                o.insert("title".into(), json!(notice.title));
                o.insert("message".into(), json!(notice.message));
                o.insert(
                    "actions".into(),
                    Value::Array(
                        notice
                            .actions
                            .iter()
                            .map(|(l, a)| json!({"label": l, "api": a}))
                            .collect(),
                    ),
                );
                o.insert("condition_key".into(), json!(key));
                o.insert("last_seen".into(), json!(now));
                o.insert("updated_at".into(), json!(now));
                Some(doc)
            })
            .await?;
        if written.is_some() {
            tracing::info!(operation = "notify", node_id = %self.0.source, condition_key = %key,
                status = if active { "active" } else { "resolved" }, starts,
                duration_ms = started.elapsed().as_millis() as u64, "notification written");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_revision_wins_with_the_largest_count() {
        let a = json!({"_rev": "3-a", "status": "active", "updated_at": "2026-01-01T00:00:02Z", "occurrence_count": 7});
        let b = json!({"_rev": "3-b", "status": "acknowledged", "updated_at": "2026-01-01T00:00:05Z", "occurrence_count": 5});
        let m = merge_notification_revisions(&[a, b]).unwrap();
        assert_eq!(m["status"], "acknowledged");
        assert_eq!(m["occurrence_count"], 7);
        assert_eq!(m["_rev"], "3-a");
        assert!(merge_notification_revisions(&[]).is_none());
    }
}
