//! Read-modify-write of one document with conflict retry. The closure gets
//! the stored JSON (so fields this version does not know are carried over)
//! and returns the document to write, or `None` to write nothing.

use mosaicfs_common::couch::{CouchClient, CouchError, DocRev};
use serde_json::Value;

/// Attempts before a persistent conflict is reported.
const CONFLICT_ATTEMPTS: u32 = 8;

/// Applies `update` to the stored document and writes it; on a conflict,
/// re-reads and re-applies. Returns the new revision, or `None` if `update`
/// chose not to write.
pub async fn read_modify_write(
    db: &CouchClient,
    id: &str,
    mut update: impl FnMut(Option<Value>) -> Option<Value>,
) -> Result<Option<DocRev>, CouchError> {
    let mut last = None;
    for _ in 0..CONFLICT_ATTEMPTS {
        let stored = db.get_value(id).await?;
        let rev = stored.as_ref().and_then(|d| d.get("_rev")).cloned();
        let Some(mut doc) = update(stored) else {
            return Ok(None);
        };
        if let Some(o) = doc.as_object_mut() {
            o.insert("_id".into(), Value::String(id.to_string()));
            match rev {
                Some(r) => o.insert("_rev".into(), r),
                None => o.remove("_rev"),
            };
        }
        match db.put(&doc).await {
            Ok(r) => return Ok(Some(r)),
            Err(e @ CouchError::Conflict { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(CouchError::Conflict {
        operation: "read-modify-write".into(),
        id: id.into(),
    }))
}
