//! File names and paths are bytes (POSIX): helpers for carrying them exactly
//! and for their lossless JSON form.
//!
//! Everything that names a file on disk or in the virtual tree (the crawler,
//! the local index, the rule engine's listings, the FUSE replies) keeps the
//! exact bytes. JSON can only hold Unicode, so where a name or path is not
//! valid UTF-8 the JSON carries two fields: the lossy UTF-8 form (each
//! invalid sequence replaced by U+FFFD) for display, search and rules, and
//! the exact bytes in **base64** (standard alphabet, padded) in a sibling
//! field ending in `_bytes` (`source.export_path_bytes` in the `file`
//! document; `name_bytes`, `virtual_path_bytes`, `path_bytes` in the API).
//! The `_bytes` field is absent when the text is valid UTF-8: the text *is*
//! then the bytes.

use base64::Engine;
use std::borrow::Cow;

/// Base64 (standard alphabet, padded) of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The bytes of a `_bytes` field.
pub fn decode(b64: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD.decode(b64)
}

/// The `_bytes` field for `bytes`: base64 when they are not valid UTF-8,
/// `None` when the lossy text is already exact.
pub fn exact_field(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).is_err().then(|| encode(bytes))
}

/// The display form of `bytes`: lossy UTF-8 (U+FFFD for invalid sequences).
pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// The last component of a path (everything after the last `/`).
pub fn last_component(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `dir/name`, without doubling the `/` of the root.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// A byte string for logs and error messages: valid UTF-8 as is, bytes
/// that are not UTF-8 as `\xNN`, control characters and `\` escaped
/// (unambiguous, unlike the lossy form, so two names that differ only in an
/// invalid byte stay distinguishable in a log line).
pub fn escaped(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' || c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exact_field_is_present_only_for_non_utf8_and_round_trips() {
        assert_eq!(exact_field(b"/a/b c.txt"), None);
        assert_eq!(exact_field("/é".as_bytes()), None);
        let odd = b"/x/\xfa.dat";
        let field = exact_field(odd).unwrap();
        assert_eq!(decode(&field).unwrap(), odd);
        assert_eq!(lossy(odd), "/x/\u{FFFD}.dat");
        assert!(decode("not base64!").is_err());
    }

    #[test]
    fn components_join_and_split_as_bytes() {
        assert_eq!(last_component(b"/a/\xfb.dat"), b"\xfb.dat");
        assert_eq!(last_component(b"name"), b"name");
        assert_eq!(join(b"/", b"\xfa"), b"/\xfa");
        assert_eq!(join(b"/a", b"b"), b"/a/b");
        assert_eq!(escaped(b"a\xfa\n"), "a\\xfa\\n");
        assert_eq!(escaped("é\u{FFFD}\\".as_bytes()), "é\u{FFFD}\\\\");
    }
}
