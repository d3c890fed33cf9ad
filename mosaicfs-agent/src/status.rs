//! The agent's `status::{node_id}` document (`agent_status`): every subsystem
//! reports into a shared [`StatusBoard`], and one writer task rewrites the
//! document, coalescing bursts of changes into one write.

use mosaicfs_common::couch::CouchClient;
use mosaicfs_common::{ids, time};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Errors kept in `recent_errors`.
const RECENT_ERRORS: usize = 50;
/// Changes closer together than this are written once.
const COALESCE: Duration = Duration::from_millis(250);

/// The shared picture of every subsystem; cheap to clone.
#[derive(Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Mutex<Board>>,
    changed: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Board {
    subsystems: BTreeMap<String, Value>,
    errors: VecDeque<Value>,
}

impl StatusBoard {
    /// Sets one subsystem: `status` is `ok`, `degraded`, `error` or `idle`;
    /// `figures` (an object) is merged into the entry.
    pub fn set(&self, subsystem: &str, status: &str, detail: Option<String>, figures: Value) {
        let mut entry = Map::new();
        entry.insert("status".into(), json!(status));
        if let Some(d) = detail {
            entry.insert("detail".into(), json!(d));
        }
        if let Value::Object(f) = figures {
            entry.extend(f);
        }
        self.lock()
            .subsystems
            .insert(subsystem.to_string(), Value::Object(entry));
        self.changed.notify_one();
    }

    /// Records an error or warning for `recent_errors`.
    pub fn error(&self, subsystem: &str, level: &str, message: impl Into<String>) {
        let mut b = self.lock();
        b.errors.push_back(json!({
            "time": time::format(&time::now()),
            "subsystem": subsystem,
            "level": level,
            "message": message.into(),
        }));
        while b.errors.len() > RECENT_ERRORS {
            b.errors.pop_front();
        }
        drop(b);
        self.changed.notify_one();
    }

    /// The current entry of a subsystem (for tests).
    pub fn subsystem(&self, name: &str) -> Option<Value> {
        self.lock().subsystems.get(name).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        // A panic while holding the lock leaves plain data; keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the document now, on top of the stored one (unknown fields
    /// survive).
    pub async fn write(
        &self,
        db: &CouchClient,
        node_id: &str,
    ) -> Result<(), mosaicfs_common::couch::CouchError> {
        let (subsystems, errors) = {
            let b = self.lock();
            (b.subsystems.clone(), b.errors.clone())
        };
        let overall = overall(subsystems.values());
        let id = ids::status_id(node_id);
        db.update(&id, |stored| {
            let mut doc = stored.filter(Value::is_object).unwrap_or_else(|| json!({}));
            let o = doc.as_object_mut()?;
            o.insert("type".into(), json!("agent_status"));
            o.insert("node_id".into(), json!(node_id));
            o.insert("updated_at".into(), json!(time::format(&time::now())));
            o.insert("overall".into(), json!(overall));
            o.insert("subsystems".into(), json!(subsystems));
            o.insert("recent_errors".into(), json!(errors));
            Some(doc)
        })
        .await
        .map(|_| ())
    }
}

/// `unhealthy` if a subsystem is in error, `degraded` if one is degraded,
/// else `healthy`.
fn overall<'a>(subsystems: impl Iterator<Item = &'a Value>) -> &'static str {
    let mut worst = "healthy";
    for s in subsystems {
        match s.get("status").and_then(Value::as_str) {
            Some("error") => return "unhealthy",
            Some("degraded") => worst = "degraded",
            _ => {}
        }
    }
    worst
}

/// Rewrites the document after every change until cancelled, then once more.
pub async fn writer_loop(
    db: CouchClient,
    node_id: String,
    board: StatusBoard,
    cancel: CancellationToken,
) {
    let db = db.with_retry(mosaicfs_common::retry::RetryPolicy::standard(Some(1)));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = board.changed.notified() => {}
        }
        tokio::time::sleep(COALESCE).await;
        if let Err(e) = board.write(&db, &node_id).await {
            tracing::warn!(node_id, operation = "agent_status", error = %e,
                "cannot write the status document; will retry at the next change");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_is_the_worst_subsystem() {
        let ok = json!({"status": "ok"});
        let degraded = json!({"status": "degraded"});
        let error = json!({"status": "error"});
        assert_eq!(overall([&ok, &ok].into_iter()), "healthy");
        assert_eq!(overall([&ok, &degraded].into_iter()), "degraded");
        assert_eq!(overall([&degraded, &error, &ok].into_iter()), "unhealthy");
    }

    #[test]
    fn recent_errors_keep_the_last_fifty() {
        let board = StatusBoard::default();
        for i in 0..60 {
            board.error("crawler", "warn", format!("e{i}"));
        }
        let b = board.lock();
        assert_eq!(b.errors.len(), 50);
        assert_eq!(b.errors[0]["message"], "e10");
    }
}
