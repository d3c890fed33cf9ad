//! An in-memory table of file names for searches that SQLite can only answer
//! by scanning every row (a substring, or a glob without a literal prefix):
//! measured over 500K names, such a scan took 125–550 ms through SQLite
//! (`instr`/`GLOB` per row of the `files` table) against a few ms for one
//! regex pass over the names laid end to end.
//!
//! Opt-in ([`crate::IndexOptions::name_table`]): it costs about 80 bytes per
//! file (the id and the lower-case name, each stored once, plus offsets), so
//! the control plane turns it on and the VFS daemon, which does not search,
//! does not.
//!
//! Layout: a *main* segment sorted by id — the names joined by `\n` in one
//! string, the ids joined in another, offsets and a status byte per entry —
//! and an *overlay* of entries changed since the main segment was built
//! (an id → its current name and status, or nothing when the row is gone).
//! The overlay is merged into a new main segment when it grows past an
//! eighth of it. Names containing `\n` stay in the overlay.
//!
//! The table only proposes candidate ids, in id order: the rows are then
//! read from SQLite with the query's own conditions (the name condition
//! included), so a table that lags the database by one page can miss a
//! just-changed file but never return a row that does not match.

use crate::error::IndexError;
use crate::store::{self, FileRow, NameMatch, Query};
use regex::Regex;
use rusqlite::Connection;
use std::collections::BTreeMap;

const ACTIVE: u8 = 1;
const SUPERSEDED: u8 = 2;

/// The names of every file row, for candidate matching.
#[derive(Debug, Default)]
pub struct NameTable {
    ids: String,
    id_ends: Vec<u32>,
    names: String,
    name_starts: Vec<u32>,
    flags: Vec<u8>,
    overlay: BTreeMap<String, Option<(String, bool)>>,
}

/// A compiled name matcher.
#[derive(Debug)]
pub struct Matcher {
    /// Matches within the `\n`-joined names (a hit names its line).
    joined: Regex,
    /// Matches one name on its own.
    single: Regex,
}

impl Matcher {
    /// Compiles `m`; `None` when the pattern cannot be translated (SQLite
    /// then answers the query by itself).
    pub fn new(m: &NameMatch) -> Option<Matcher> {
        match m {
            NameMatch::Substring(s) => {
                let lit = regex::escape(&s.to_lowercase());
                Some(Matcher {
                    joined: Regex::new(&lit).ok()?,
                    single: Regex::new(&lit).ok()?,
                })
            }
            NameMatch::Glob(g) => {
                let g = g.to_lowercase();
                let single = glob_to_regex(&g, false)?;
                // Leading and trailing `*` become an unanchored search, so
                // the regex engine can look for the literal part directly
                // (`*[x-z]zz*` is a search for `[x-z]zz`); nothing in the
                // body matches a `\n`, so a hit stays within one name.
                let core = g.trim_start_matches('*');
                let lead = core.len() < g.len();
                let core_end = core.trim_end_matches('*');
                let trail = core_end.len() < core.len();
                let body = glob_to_regex(core_end, true)?;
                let joined = format!(
                    "(?m){}{body}{}",
                    if lead { "" } else { "^" },
                    if trail { "" } else { "$" }
                );
                Some(Matcher {
                    joined: Regex::new(&joined).ok()?,
                    single: Regex::new(&format!("(?s)\\A{single}\\z")).ok()?,
                })
            }
        }
    }
}

/// Translates an SQLite GLOB pattern (`*`, `?`, `[...]`, `[^...]`, ranges,
/// a `]` first in a set is literal) into a regex body matching within one
/// line. `None` for a pattern SQLite would treat as matching nothing
/// (an unclosed set) or one the translation does not cover.
/// With `lines`, nothing matches a `\n` (the names are joined by it).
fn glob_to_regex(g: &str, lines: bool) -> Option<String> {
    let any = if lines { "[^\\n]" } else { "." };
    let mut out = String::with_capacity(g.len() * 2);
    let mut chars = g.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                out.push_str(any);
                out.push('*');
            }
            '?' => out.push_str(any),
            '[' => {
                let mut class = String::from("[");
                if chars.peek() == Some(&'^') {
                    chars.next();
                    class.push('^');
                    if lines {
                        class.push_str("\\n");
                    }
                }
                let mut first = true;
                loop {
                    let c = chars.next()?;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    if chars.peek() == Some(&'-') {
                        let mut ahead = chars.clone();
                        ahead.next();
                        match ahead.peek() {
                            Some(&hi) if hi != ']' => {
                                chars.next();
                                chars.next();
                                if hi < c {
                                    // SQLite: the first character still
                                    // matches, the empty range nothing.
                                    class.push_str(&format!("\\x{{{:x}}}", c as u32));
                                } else {
                                    class.push_str(&format!(
                                        "\\x{{{:x}}}-\\x{{{:x}}}",
                                        c as u32, hi as u32
                                    ));
                                }
                                continue;
                            }
                            _ => {}
                        }
                    }
                    class.push_str(&format!("\\x{{{:x}}}", c as u32));
                }
                class.push(']');
                out.push_str(&class);
            }
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    Some(out)
}

impl NameTable {
    /// Builds the table from every row of the index.
    pub fn build(conn: &Connection) -> Result<NameTable, IndexError> {
        let mut t = NameTable::default();
        let mut stmt = conn.prepare("SELECT id, name_lc, status FROM files ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let name: String = r.get(1)?;
            let active = r.get_ref(2)?.as_str().ok() == Some("active");
            if name.contains('\n') {
                t.overlay.insert(id, Some((name, active)));
            } else {
                t.push_main(&id, &name, active);
            }
        }
        Ok(t)
    }

    fn push_main(&mut self, id: &str, name: &str, active: bool) {
        self.ids.push_str(id);
        self.id_ends.push(self.ids.len() as u32);
        self.name_starts.push(self.names.len() as u32);
        self.names.push_str(name);
        self.names.push('\n');
        self.flags.push(if active { ACTIVE } else { 0 });
    }

    fn main_id(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.id_ends[i - 1] as usize
        };
        &self.ids[start..self.id_ends[i] as usize]
    }

    fn main_name(&self, i: usize) -> &str {
        let start = self.name_starts[i] as usize;
        let end = self
            .name_starts
            .get(i + 1)
            .map(|&e| e as usize)
            .unwrap_or(self.names.len());
        &self.names[start..end - 1]
    }

    /// Index of the first main entry with an id greater than `after`.
    fn main_after(&self, after: Option<&str>) -> usize {
        match after {
            None => 0,
            Some(a) => {
                let (mut lo, mut hi) = (0, self.id_ends.len());
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if self.main_id(mid) <= a {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            }
        }
    }

    fn main_find(&self, id: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.id_ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.main_id(mid).cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Records the current state of one row: its lower-case name and whether
    /// it is active, or `None` when the row is gone.
    pub fn set(&mut self, id: &str, row: Option<(String, bool)>) {
        if let Some(i) = self.main_find(id) {
            self.flags[i] |= SUPERSEDED;
        }
        self.overlay.insert(id.to_string(), row);
        if self.overlay.len() > 4096.max(self.flags.len() / 8) {
            self.compact();
        }
    }

    /// Re-reads the rows of `ids` from `conn` (after a page was applied).
    pub fn refresh<'a>(
        &mut self,
        conn: &Connection,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), IndexError> {
        let mut stmt = conn.prepare_cached("SELECT name_lc, status FROM files WHERE id = ?1")?;
        for id in ids {
            let row = stmt
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get_ref(1)?.as_str().ok() == Some("active"),
                    ))
                })
                .ok();
            self.set(id, row);
        }
        Ok(())
    }

    /// Merges the overlay into a new main segment.
    fn compact(&mut self) {
        let old = std::mem::take(self);
        let mut overlay = old.overlay.iter().peekable();
        let mut keep = BTreeMap::new();
        let mut push_overlay = |t: &mut NameTable, id: &String, v: &Option<(String, bool)>| {
            if let Some((name, active)) = v {
                if name.contains('\n') {
                    keep.insert(id.clone(), v.clone());
                } else {
                    t.push_main(id, name, *active);
                }
            }
        };
        for i in 0..old.flags.len() {
            let id = old.main_id(i);
            while let Some((oid, v)) = overlay.next_if(|(oid, _)| oid.as_str() < id) {
                push_overlay(self, oid, v);
            }
            if old.flags[i] & SUPERSEDED == 0 {
                self.push_main(id, old.main_name(i), old.flags[i] & ACTIVE != 0);
            }
        }
        for (oid, v) in overlay {
            push_overlay(self, oid, v);
        }
        self.overlay = keep;
        self.ids.shrink_to_fit();
        self.names.shrink_to_fit();
        self.id_ends.shrink_to_fit();
        self.name_starts.shrink_to_fit();
        self.flags.shrink_to_fit();
    }

    /// Up to `want` candidate ids greater than `after`, in id order, whose
    /// name matches and (unless `include_deleted`) whose row is active.
    /// Also says whether the table has no further candidates.
    pub fn candidates(
        &self,
        m: &Matcher,
        after: Option<&str>,
        include_deleted: bool,
        want: usize,
    ) -> (Vec<String>, bool) {
        let ok = |active: bool| include_deleted || active;
        let mut main: Vec<&str> = Vec::new();
        let start = self.main_after(after);
        let mut pos = self
            .name_starts
            .get(start)
            .map(|&p| p as usize)
            .unwrap_or(self.names.len());
        let mut main_done = true;
        while let Some(hit) = m.joined.find_at(&self.names, pos) {
            let i = self
                .name_starts
                .partition_point(|&s| s as usize <= hit.start())
                - 1;
            pos = self
                .name_starts
                .get(i + 1)
                .map(|&p| p as usize)
                .unwrap_or(self.names.len());
            let f = self.flags[i];
            if f & SUPERSEDED == 0 && ok(f & ACTIVE != 0) {
                main.push(self.main_id(i));
                if main.len() >= want {
                    main_done = pos >= self.names.len();
                    break;
                }
            }
            if pos >= self.names.len() {
                break;
            }
        }
        let range = match after {
            Some(a) => self
                .overlay
                .range::<str, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => self.overlay.range::<str, _>(..),
        };
        let mut extra: Vec<&str> = Vec::new();
        let mut extra_done = true;
        for (id, v) in range {
            if let Some((name, active)) = v
                && ok(*active)
                && m.single.is_match(name)
            {
                if extra.len() >= want {
                    extra_done = false;
                    break;
                }
                extra.push(id);
            }
        }
        let mut all: Vec<&str> = main.into_iter().chain(extra).collect();
        all.sort_unstable();
        let done = main_done && extra_done && all.len() <= want;
        all.truncate(want);
        (all.into_iter().map(str::to_owned).collect(), done)
    }

    /// Number of entries (main and overlay, including superseded ones).
    pub fn len(&self) -> usize {
        self.flags.len() + self.overlay.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.ids.capacity()
            + self.names.capacity()
            + self.id_ends.capacity() * 4
            + self.name_starts.capacity() * 4
            + self.flags.capacity()
            + self
                .overlay
                .iter()
                .map(|(k, v)| 64 + k.len() + v.as_ref().map_or(0, |(n, _)| n.len()))
                .sum::<usize>()
    }
}

/// Runs `q` (which has a name filter) with candidates from `table`; falls
/// back to [`store::query`] when the pattern cannot be compiled.
pub fn query(conn: &Connection, table: &NameTable, q: &Query) -> Result<Vec<FileRow>, IndexError> {
    let Some(m) = q.name.as_ref().and_then(Matcher::new) else {
        return store::query(conn, q);
    };
    let mut out: Vec<FileRow> = Vec::new();
    let mut after = q.after.clone();
    // Other conditions (node, label) may reject candidates: ask for more
    // each round.
    let mut want = q.limit.clamp(1, 500);
    while out.len() < q.limit {
        let (ids, done) = table.candidates(&m, after.as_deref(), q.include_deleted, want);
        if ids.is_empty() {
            break;
        }
        after = ids.last().cloned();
        let mut round = Query {
            limit: q.limit - out.len(),
            after: None,
            ..q.clone()
        };
        round.limit = round.limit.min(ids.len());
        out.extend(store::query_ids(conn, &round, &ids)?);
        if done {
            break;
        }
        want = (want * 4).min(8192);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (matches on its own, matches as one line among others).
    fn glob_matches(g: &str, name: &str) -> (bool, bool) {
        let m = Matcher::new(&NameMatch::Glob(g.into())).unwrap();
        let hay = format!("\u{1}\n{name}\n\u{1}");
        let line = 2..2 + name.len();
        let joined = m
            .joined
            .find_iter(&hay)
            .any(|h| h.start() >= line.start && h.end() <= line.end);
        (m.single.is_match(name), joined)
    }

    #[test]
    fn globs_translate_like_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        let sqlite = |g: &str, n: &str| -> bool {
            conn.query_row("SELECT ?1 GLOB ?2", [n, g], |r| r.get(0))
                .unwrap()
        };
        let names = [
            "invoice-report-12345.pdf",
            "a]b",
            "a-b",
            "abc",
            "x^y",
            "zzz",
            "résumé.txt",
            "a.b.c",
            "[x]",
            "",
            "q?",
            "a\\b",
            "日本語",
            "ayzz",
        ];
        let globs = [
            "*.pdf",
            "invoice*",
            "*[x-z]zz*",
            "a[]]b",
            "a[-]b",
            "a[^b]c",
            "x[\\^]y",
            "?zz",
            "*é*",
            "[a-c]*",
            "[^a-c]*",
            "*.*.*",
            "\\[x]",
            "*[",
            "q?",
            "a\\b",
            "日*",
            "[z-a]*",
            "*[xyz-]*",
            "",
        ];
        for g in globs {
            for n in names {
                let want = sqlite(g, n);
                if Matcher::new(&NameMatch::Glob(g.into())).is_some() {
                    assert_eq!(glob_matches(g, n), (want, want), "glob {g:?} on {n:?}");
                } else {
                    // Only patterns SQLite matches nothing with are left to it.
                    assert!(!want, "untranslated glob {g:?} matches {n:?} in SQLite");
                }
            }
        }
    }

    fn table(entries: &[(&str, &str, bool)]) -> NameTable {
        let mut t = NameTable::default();
        let mut sorted = entries.to_vec();
        sorted.sort();
        for (id, name, active) in sorted {
            t.push_main(id, name, active);
        }
        t
    }

    fn ids(t: &NameTable, m: NameMatch, after: Option<&str>, want: usize) -> Vec<String> {
        t.candidates(&Matcher::new(&m).unwrap(), after, false, want)
            .0
    }

    #[test]
    fn candidates_follow_updates_deletes_and_compaction() {
        let mut t = table(&[
            ("file::01", "alpha.pdf", true),
            ("file::02", "beta.txt", true),
            ("file::03", "gamma.pdf", false),
            ("file::04", "delta.pdf", true),
        ]);
        let pdf = || NameMatch::Glob("*.pdf".into());
        assert_eq!(ids(&t, pdf(), None, 10), ["file::01", "file::04"]);
        assert_eq!(ids(&t, pdf(), Some("file::01"), 10), ["file::04"]);
        assert_eq!(ids(&t, pdf(), None, 1), ["file::01"]);

        t.set("file::02", Some(("beta.pdf".into(), true)));
        t.set("file::04", None);
        t.set("file::00", Some(("new.pdf".into(), true)));
        t.set("file::05", Some(("odd\nname.pdf".into(), true)));
        assert_eq!(
            ids(&t, pdf(), None, 10),
            ["file::00", "file::01", "file::02", "file::05"]
        );
        assert_eq!(
            ids(&t, NameMatch::Substring("ta".into()), None, 10),
            ["file::02"]
        );
        t.compact();
        assert!(
            t.overlay.contains_key("file::05"),
            "a name with a newline stays aside"
        );
        assert_eq!(t.flags.len(), 4);
        assert_eq!(
            ids(&t, pdf(), None, 10),
            ["file::00", "file::01", "file::02", "file::05"]
        );
        assert_eq!(
            ids(&t, pdf(), Some("file::00"), 2),
            ["file::01", "file::02"]
        );
    }

    /// The table kept current page by page answers every query exactly as
    /// SQLite alone does: shapes, cursors, node filter, deleted rows.
    #[test]
    fn queries_through_the_table_equal_sqlite_after_updates_and_deletes() {
        use serde_json::{Value, json};
        let dir = tempfile::tempdir().unwrap();
        let mut conn = store::open(&dir.path().join("index.db"), "test").unwrap();
        let mut table = NameTable::build(&conn).unwrap();
        let words = ["invoice", "report", "photo", "Zyzzy", "notes", "ärger"];
        let exts = ["pdf", "JPG", "txt", "md"];
        let doc = |i: usize, round: usize| -> Value {
            let name = format!(
                "{}-{}-{}.{}",
                words[(i * 7 + round) % words.len()],
                words[(i / 3) % words.len()],
                i,
                exts[(i + round) % exts.len()]
            );
            json!({
                "_id": format!("file::{i:05}"), "type": "file", "inode": 1000 + i, "name": name,
                "source": {"node_id": format!("n{}", i % 3), "export_path": format!("/d/{name}"),
                           "export_parent": "/d"},
                "size": 5, "mtime": "2025-01-01T00:00:00Z",
                "status": if (i + round).is_multiple_of(5) { "deleted" } else { "active" }
            })
        };
        let mut seq = 0;
        // Three rounds over 6,000 ids (the overlay outgrows 4,096 and is
        // compacted), each renaming some files and deleting others.
        for round in 0..3 {
            for chunk in (0..6000).collect::<Vec<usize>>().chunks(1000) {
                let docs: Vec<(String, Option<Value>)> = chunk
                    .iter()
                    .filter(|&&i| round == 0 || i.is_multiple_of(round + 2))
                    .map(|&i| {
                        let id = format!("file::{i:05}");
                        let d = (round < 2 || !i.is_multiple_of(4)).then(|| doc(i, round));
                        (id, d)
                    })
                    .collect();
                seq += 1;
                store::tests::apply(&mut conn, &docs, seq);
                table
                    .refresh(&conn, docs.iter().map(|(id, _)| id.as_str()))
                    .unwrap();
            }
        }
        let shapes = [
            NameMatch::Substring("zyzzy".into()),
            NameMatch::Substring("-12".into()),
            NameMatch::Substring("ÄRGER".into()),
            NameMatch::Substring("absent".into()),
            NameMatch::Glob("*.pdf".into()),
            NameMatch::Glob("invoice-*".into()),
            NameMatch::Glob("*[x-z]zz*".into()),
            NameMatch::Glob("*-?-*".into()),
        ];
        for m in shapes {
            for (node, include_deleted, after, limit) in [
                (None, false, None, 100),
                (None, true, Some("file::02500"), 100),
                (Some("n1"), false, Some("file::00100"), 37),
                (Some("n2"), true, None, 5000),
            ] {
                let q = Query {
                    name: Some(m.clone()),
                    node_id: node.map(str::to_owned),
                    after: after.map(str::to_owned),
                    limit,
                    include_deleted,
                    ..Default::default()
                };
                let want = store::query(&conn, &q).unwrap();
                let got = query(&conn, &table, &q).unwrap();
                assert_eq!(
                    got, want,
                    "{m:?} node {node:?} deleted {include_deleted} after {after:?}"
                );
            }
        }
        assert!(table.overlay.len() < 4096, "the overlay was compacted");
    }
}
