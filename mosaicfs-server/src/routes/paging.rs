//! Cursor pagination over one `_all_docs` id prefix, shared by the list
//! routes of nodes and labels. A cursor is the URL-safe base64 of the last
//! `_id` of the previous page; the next page starts strictly after it, so
//! pages never overlap or skip, even when documents are added or removed
//! between requests.

use crate::error::{ApiError, ApiResult};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use mosaicfs_common::couch::CouchClient;
use mosaicfs_common::ids;
use serde_json::Value;

/// Page size when the client gives none.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page a client may ask for.
pub const MAX_LIMIT: usize = 1000;

/// One page of documents and the cursor of the next page, if there is one.
#[derive(Debug)]
pub struct Page {
    /// The documents, as stored, without `_rev`.
    pub items: Vec<Value>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Checks `limit` (1–1000, default 100).
pub fn limit(limit: Option<usize>) -> ApiResult<usize> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// The cursor for a page that ended at `id`.
pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The `_id` inside `cursor`; it must lie in the listed prefix, else the
/// cursor belongs to another list and is refused.
pub fn decode_cursor(cursor: &str, prefix: &str) -> ApiResult<String> {
    let bad = || ApiError::field("cursor", "is not a cursor returned by this list");
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(cursor))
        .map_err(|_| bad())?;
    let id = String::from_utf8(bytes).map_err(|_| bad())?;
    if !id.starts_with(prefix) {
        return Err(bad());
    }
    Ok(id)
}

/// The stored document as the API shows it: every field except `_rev`.
pub fn public(mut doc: Value) -> Value {
    if let Some(o) = doc.as_object_mut() {
        o.remove("_rev");
    }
    doc
}

/// One page of the documents whose ids start with `prefix`.
pub async fn page(
    db: &CouchClient,
    prefix: &str,
    limit: usize,
    cursor: Option<&str>,
) -> ApiResult<Page> {
    let after = cursor.map(|c| decode_cursor(c, prefix)).transpose()?;
    // Start at the cursor id itself (inclusive) and drop it if it is still
    // there: a `skip=1` would silently drop a real document when the cursor's
    // own document was deleted in between.
    let start = after.clone().unwrap_or_else(|| prefix.to_string());
    let fetch = limit + 1 + usize::from(after.is_some());
    let rows = db
        .all_docs_range(&start, &ids::prefix_end(prefix), fetch, 0, true)
        .await?;
    let mut items: Vec<(String, Value)> = rows
        .into_iter()
        .filter(|r| Some(&r.id) != after.as_ref())
        .filter_map(|r| r.doc.map(|d| (r.id, public(d))))
        .collect();
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|(id, _)| encode_cursor(id))
    } else {
        None
    };
    Ok(Page {
        items: items.into_iter().map(|(_, d)| d).collect(),
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_foreign_or_garbage_input() {
        let c = encode_cursor("node::abc");
        assert_eq!(decode_cursor(&c, "node::").unwrap(), "node::abc");
        assert!(decode_cursor(&c, "label_rule::").is_err());
        assert!(decode_cursor("!!!", "node::").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode([0xff, 0xfe]), "").is_err());
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(1001)).is_err());
    }
}
