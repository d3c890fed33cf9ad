//! Readdir evaluation: mapping strategies, merging, conflicts, inheritance.

use super::*;
use serde_json::json;

fn now() -> Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

fn f(id: &str, node: &str, path: &str, mtime: &str) -> FileDoc {
    let (parent, name) = path.rsplit_once('/').unwrap();
    serde_json::from_value(json!({
        "_id": format!("file::{id}"), "type": "file", "inode": 1000 + id.len() as u64 * 7 + id.bytes().map(u64::from).sum::<u64>(),
        "name": name, "source": {"node_id": node, "export_path": path, "export_parent": parent},
        "size": 10, "mtime": mtime, "status": "active"
    }))
    .unwrap()
}

fn dir(path: &str, mounts: Value, enforce: bool) -> VirtualDirectoryDoc {
    let (parent, name) = path.rsplit_once('/').unwrap();
    serde_json::from_value(json!({
        "_id": ids::dir_id(path), "type": "virtual_directory", "inode": 5000 + path.len() as u64,
        "virtual_path": path, "name": name, "parent_path": if parent.is_empty() { "/" } else { parent },
        "created_at": "2026-01-01T00:00:00Z", "enforce_steps_on_children": enforce, "mounts": mounts
    }))
    .unwrap()
}

fn root(mounts: Value, enforce: bool) -> VirtualDirectoryDoc {
    serde_json::from_value(json!({
        "_id": "dir::root", "type": "virtual_directory", "inode": 1, "virtual_path": "/", "name": "",
        "system": true, "created_at": "2026-01-01T00:00:00Z", "enforce_steps_on_children": enforce, "mounts": mounts
    }))
    .unwrap()
}

/// Lists `d` at `sub` with every file offered to every mount whose query
/// selects it, as an index would.
fn ls(
    d: &VirtualDirectoryDoc,
    ancestors: &[&VirtualDirectoryDoc],
    sub: &[&str],
    files: &[FileDoc],
    children: &[&VirtualDirectoryDoc],
) -> Vec<String> {
    entries(d, ancestors, sub, files, children)
        .iter()
        .map(|e| match e {
            Entry::File { .. } => e.display_name().into_owned(),
            Entry::Directory { .. } => format!("{}/", e.display_name()),
        })
        .collect()
}

fn entries(
    d: &VirtualDirectoryDoc,
    ancestors: &[&VirtualDirectoryDoc],
    sub: &[&str],
    files: &[FileDoc],
    children: &[&VirtualDirectoryDoc],
) -> Vec<Entry> {
    listed(d, ancestors, sub, files, children).entries
}

/// [`list`] with the collisions, offering candidates as an index would
/// (a range of the lossy `export_path`).
fn listed(
    d: &VirtualDirectoryDoc,
    ancestors: &[&VirtualDirectoryDoc],
    sub: &[&str],
    files: &[FileDoc],
    children: &[&VirtualDirectoryDoc],
) -> Listed {
    let sub: Vec<&[u8]> = sub.iter().map(|s| s.as_bytes()).collect();
    listed_bytes(d, ancestors, &sub, files, children)
}

fn listed_bytes(
    d: &VirtualDirectoryDoc,
    ancestors: &[&VirtualDirectoryDoc],
    sub: &[&[u8]],
    files: &[FileDoc],
    children: &[&VirtualDirectoryDoc],
) -> Listed {
    let compiled = compile_directory(d, ancestors).unwrap();
    let candidates: Vec<Vec<&FileDoc>> = d
        .mounts
        .iter()
        .map(|m| match mount_query(m, sub) {
            None => vec![],
            Some((node, prefix)) => files
                .iter()
                .filter(|f| {
                    node.as_deref().is_none_or(|n| n == f.source.node_id)
                        && f.source.export_path.starts_with(&prefix)
                })
                .collect(),
        })
        .collect();
    let mut vpath = d.virtual_path.as_bytes().to_vec();
    for s in sub {
        vpath = names::join(&vpath, s);
    }
    list(
        &compiled,
        &vpath,
        sub,
        &candidates,
        children,
        &NoFacts,
        now(),
    )
}

fn tree() -> Vec<FileDoc> {
    vec![
        f(
            "a1",
            "node-a",
            "/home/u/docs/report.pdf",
            "2026-05-01T00:00:00Z",
        ),
        f(
            "a2",
            "node-a",
            "/home/u/docs/notes.txt",
            "2026-05-01T00:00:00Z",
        ),
        f(
            "a3",
            "node-a",
            "/home/u/docs/2025/tax.pdf",
            "2026-05-01T00:00:00Z",
        ),
        f(
            "a4",
            "node-a",
            "/home/u/docs/2025/deep/x.pdf",
            "2026-05-01T00:00:00Z",
        ),
        f(
            "a5",
            "node-a",
            "/home/u/docsother/not-under.pdf",
            "2026-05-01T00:00:00Z",
        ),
        f(
            "b1",
            "node-b",
            "/srv/docs/report.pdf",
            "2026-05-20T00:00:00Z",
        ),
        f(
            "b2",
            "node-b",
            "/srv/docs/b-only.pdf",
            "2026-05-20T00:00:00Z",
        ),
    ]
}

fn mount(node: &str, path: &str, strategy: &str, steps: Value, policy: &str) -> Value {
    json!({"mount_id": format!("m-{node}-{strategy}"), "source": {"node_id": node, "export_path": path},
           "strategy": strategy, "steps": steps, "conflict_policy": policy})
}

#[test]
fn prefix_replace_keeps_the_hierarchy_and_synthesizes_subdirectories() {
    let d = dir(
        "/documents",
        json!([mount(
            "node-a",
            "/home/u/docs",
            "prefix_replace",
            json!([]),
            "last_write_wins"
        )]),
        false,
    );
    assert_eq!(
        ls(&d, &[], &[], &tree(), &[]),
        ["2025/", "notes.txt", "report.pdf"]
    );
    assert_eq!(ls(&d, &[], &["2025"], &tree(), &[]), ["deep/", "tax.pdf"]);
    assert_eq!(ls(&d, &[], &["2025", "deep"], &tree(), &[]), ["x.pdf"]);
    let e = entries(&d, &[], &[], &tree(), &[]);
    let Entry::Directory {
        inode,
        synthesized,
        virtual_path,
        ..
    } = &e[0]
    else {
        panic!("{e:?}")
    };
    assert!(*synthesized && *inode >= 1000);
    assert_eq!(virtual_path, b"/documents/2025");
    assert_eq!(
        *inode,
        ids::synthesized_dir_inode("/documents/2025"),
        "stable inode"
    );
}

#[test]
fn flatten_lists_every_match_directly_and_only_at_the_top() {
    let d = dir(
        "/pdfs",
        json!([mount(
            "node-a",
            "/home/u/docs",
            "flatten",
            json!([{"op": "glob", "pattern": "*.pdf"}]),
            "last_write_wins"
        )]),
        false,
    );
    assert_eq!(
        ls(&d, &[], &[], &tree(), &[]),
        ["report.pdf", "tax.pdf", "x.pdf"]
    );
    assert!(ls(&d, &[], &["2025"], &tree(), &[]).is_empty());
}

#[test]
fn sources_merge_and_conflicts_follow_the_policy() {
    let lww = dir(
        "/all",
        json!([
            mount(
                "node-a",
                "/home/u/docs",
                "flatten",
                json!([{"op": "glob", "pattern": "*.pdf"}]),
                "last_write_wins"
            ),
            mount(
                "node-b",
                "/srv/docs",
                "flatten",
                json!([]),
                "last_write_wins"
            ),
        ]),
        false,
    );
    let e = entries(&lww, &[], &[], &tree(), &[]);
    let names: Vec<_> = e.iter().map(Entry::display_name).collect();
    assert_eq!(names, ["b-only.pdf", "report.pdf", "tax.pdf", "x.pdf"]);
    let report = e.iter().find(|x| x.name() == b"report.pdf").unwrap();
    assert!(
        matches!(report, Entry::File { file_id, .. } if file_id == "file::b1"),
        "newest wins: {report:?}"
    );

    // One mount with the conservative policy is enough.
    let mixed = dir(
        "/all",
        json!([
            mount(
                "node-a",
                "/home/u/docs",
                "flatten",
                json!([{"op": "glob", "pattern": "*.pdf"}]),
                "last_write_wins"
            ),
            mount(
                "node-b",
                "/srv/docs",
                "flatten",
                json!([]),
                "suffix_node_id"
            ),
        ]),
        false,
    );
    assert_eq!(
        ls(&mixed, &[], &[], &tree(), &[]),
        [
            "b-only.pdf",
            "report~node-a.pdf",
            "report~node-b.pdf",
            "tax.pdf",
            "x.pdf"
        ]
    );
}

#[test]
fn two_files_of_one_node_under_one_name_stay_distinct() {
    // Ids created in the same millisecond share their first characters (the
    // time part of a version-7 uuid): only the end tells them apart.
    let files = vec![
        f(
            "0190aaaa1111",
            "node-a",
            "/d/x/same.txt",
            "2026-05-01T00:00:00Z",
        ),
        f(
            "0190aaaa2222",
            "node-a",
            "/d/y/same.txt",
            "2026-05-02T00:00:00Z",
        ),
        f(
            "0190aaaa3333",
            "node-a",
            "/d/z/same.txt",
            "2026-05-02T00:00:00Z",
        ),
    ];
    let d = dir(
        "/flat",
        json!([mount(
            "node-a",
            "/d",
            "flatten",
            json!([]),
            "suffix_node_id"
        )]),
        false,
    );
    assert_eq!(
        ls(&d, &[], &[], &files, &[]),
        [
            "same~node-a-aaaa1111.txt",
            "same~node-a-aaaa2222.txt",
            "same~node-a-aaaa3333.txt"
        ]
    );
    // Two tails that collide fall back to the whole id.
    let files = vec![
        f(
            "1111aaaa0000",
            "node-a",
            "/d/x/same.txt",
            "2026-05-01T00:00:00Z",
        ),
        f(
            "2222aaaa0000",
            "node-a",
            "/d/y/same.txt",
            "2026-05-02T00:00:00Z",
        ),
    ];
    let names = ls(&d, &[], &[], &files, &[]);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.contains(&"same~node-a-2222aaaa0000.txt".to_string()),
        "{names:?}"
    );
}

#[test]
fn the_same_file_through_two_mounts_is_listed_once_and_keeps_its_inode_everywhere() {
    let d = dir(
        "/twice",
        json!([
            mount(
                "node-a",
                "/home/u/docs",
                "flatten",
                json!([]),
                "last_write_wins"
            ),
            mount("*", "/home/u/docs", "flatten", json!([]), "suffix_node_id"),
        ]),
        false,
    );
    let names = ls(&d, &[], &[], &tree(), &[]);
    assert_eq!(
        names.iter().filter(|n| n.as_str() == "report.pdf").count(),
        1,
        "{names:?}"
    );
    let other = dir(
        "/other",
        json!([mount(
            "node-a",
            "/home/u/docs",
            "prefix_replace",
            json!([]),
            "last_write_wins"
        )]),
        false,
    );
    let inode_in = |d: &VirtualDirectoryDoc| {
        entries(d, &[], &[], &tree(), &[])
            .into_iter()
            .find_map(|e| match e {
                Entry::File { name, inode, .. } if name == b"report.pdf" => Some(inode),
                _ => None,
            })
    };
    assert_eq!(inode_in(&d), inode_in(&other));
    assert!(inode_in(&d).is_some());
}

#[test]
fn ancestor_steps_are_enforced_before_the_childs_own() {
    let parent = dir(
        "/documents",
        json!([mount(
            "node-a",
            "/nowhere",
            "flatten",
            json!([{"op": "glob", "pattern": "*.txt", "invert": true}]),
            "last_write_wins"
        )]),
        true,
    );
    let child = dir(
        "/documents/work",
        json!([mount(
            "node-a",
            "/home/u/docs",
            "prefix_replace",
            json!([{"op": "glob", "pattern": "*", "on_match": "include"}]),
            "last_write_wins"
        )]),
        false,
    );
    let r = root(json!([]), false);
    assert_eq!(
        ls(&child, &[&r, &parent], &[], &tree(), &[]),
        ["2025/", "report.pdf"],
        "notes.txt excluded by the ancestor"
    );
    let relaxed = dir(
        "/documents",
        parent
            .mounts
            .iter()
            .map(|m| serde_json::to_value(m).unwrap())
            .collect(),
        false,
    );
    assert_eq!(
        ls(&child, &[&r, &relaxed], &[], &tree(), &[]),
        ["2025/", "notes.txt", "report.pdf"]
    );
}

#[test]
fn deleted_files_never_appear_and_child_directories_do() {
    let mut files = tree();
    files[0].status = FileStatus::Deleted;
    let d = dir(
        "/documents",
        json!([mount(
            "node-a",
            "/home/u/docs",
            "prefix_replace",
            json!([]),
            "last_write_wins"
        )]),
        false,
    );
    let child = dir("/documents/2025", json!([]), false);
    let e = entries(&d, &[], &[], &files, &[&child]);
    let names: Vec<_> = e.iter().map(Entry::display_name).collect();
    assert_eq!(
        names,
        ["2025", "notes.txt"],
        "a real child directory takes the name of the synthesized one"
    );
    assert!(matches!(
        &e[0],
        Entry::Directory {
            synthesized: false,
            ..
        }
    ));
}

#[test]
fn a_file_named_like_a_directory_is_renamed() {
    let files = vec![f("z1", "node-a", "/d/work", "2026-05-01T00:00:00Z")];
    let d = dir(
        "/top",
        json!([mount(
            "node-a",
            "/d",
            "prefix_replace",
            json!([]),
            "last_write_wins"
        )]),
        false,
    );
    let child = dir("/top/work", json!([]), false);
    assert_eq!(
        ls(&d, &[], &[], &files, &[&child]),
        ["work/", "work~node-a"]
    );
}

#[test]
fn compile_errors_name_the_mount_and_step() {
    let d = dir(
        "/bad",
        json!([
            mount("node-a", "/x", "flatten", json!([]), "last_write_wins"),
            mount(
                "node-a",
                "/y",
                "flatten",
                json!([{"op": "size", "max": "3 bananas"}]),
                "last_write_wins"
            ),
        ]),
        false,
    );
    let e = compile_directory(&d, &[]).err().unwrap();
    assert_eq!(e.field, "mounts[1].steps[0].max");
    let parent = dir(
        "/p",
        json!([mount(
            "node-a",
            "/x",
            "flatten",
            json!([{"op": "regex", "pattern": "("}]),
            "last_write_wins"
        )]),
        true,
    );
    let ok = dir("/p/c", json!([]), false);
    let e = compile_directory(&ok, &[&parent]).err().unwrap();
    assert!(e.field.starts_with("/p: mounts[0].steps[0]"), "{e}");
}

/// A file whose exact path is `bytes` (lossy `export_path` and `name`, the
/// bytes in `export_path_bytes` when they are not UTF-8), as the crawler
/// writes it.
fn f_bytes(id: &str, node: &str, bytes: &[u8], mtime: &str) -> FileDoc {
    let lossy = names::lossy(bytes).into_owned();
    let mut doc = f(id, node, &lossy, mtime);
    doc.source.export_path_bytes = names::exact_field(bytes);
    doc
}

#[test]
fn names_that_differ_only_in_invalid_bytes_are_two_entries_and_no_collision() {
    let files = vec![
        f_bytes("a", "n", b"/w/\xfa.dat", "2026-01-01T00:00:00Z"),
        f_bytes("b", "n", b"/w/\xfb.dat", "2026-01-02T00:00:00Z"),
        f_bytes("c", "n", b"/w/\xfa/in.txt", "2026-01-01T00:00:00Z"),
        f_bytes("d", "n", b"/w/\xfb/in.txt", "2026-01-01T00:00:00Z"),
    ];
    for strategy in ["prefix_replace", "flatten"] {
        let d = dir(
            "/odd",
            json!([mount("n", "/w", strategy, json!([]), "last_write_wins")]),
            false,
        );
        let l = listed(&d, &[], &[], &files, &[]);
        let names: Vec<&[u8]> = l.entries.iter().map(Entry::name).collect();
        if strategy == "prefix_replace" {
            assert_eq!(
                names,
                [&b"\xfa"[..], b"\xfa.dat", b"\xfb", b"\xfb.dat"],
                "{strategy}"
            );
            let Entry::Directory { virtual_path, .. } = &l.entries[2] else {
                panic!("{:?}", l.entries)
            };
            assert_eq!(virtual_path, b"/odd/\xfb");
            // The synthesized subdirectory lists only its own exact file.
            let sub = listed_bytes(&d, &[], &[b"\xfb"], &files, &[]);
            assert_eq!(sub.entries.len(), 1);
            assert!(matches!(&sub.entries[0],
                Entry::File { name, file_id, .. } if name == b"in.txt" && file_id == "file::d"));
            assert!(l.collisions.is_empty(), "{:?}", l.collisions);
        } else {
            // Flatten: `in.txt` twice is a real collision, the odd names not.
            assert_eq!(names, [&b"in.txt"[..], b"\xfa.dat", b"\xfb.dat"]);
            assert_eq!(l.collisions.len(), 1, "{:?}", l.collisions);
            assert_eq!(l.collisions[0].name, b"in.txt");
        }
    }
}

#[test]
fn every_collision_is_reported_with_both_source_paths() {
    let files = vec![
        f("a1", "node-a", "/a/x/r.pdf", "2026-01-01T00:00:00Z"),
        f("a2", "node-a", "/a/y/r.pdf", "2026-01-02T00:00:00Z"),
    ];
    let lww = dir(
        "/flat",
        json!([mount(
            "node-a",
            "/a",
            "flatten",
            json!([]),
            "last_write_wins"
        )]),
        false,
    );
    let l = listed(&lww, &[], &[], &files, &[]);
    assert_eq!(l.entries.len(), 1);
    assert_eq!(
        l.collisions,
        [Collision {
            name: b"r.pdf".to_vec(),
            resolution: Resolution::NewestWins,
            files: vec![
                Colliding {
                    file_id: "file::a1".into(),
                    node_id: "node-a".into(),
                    export_path: b"/a/x/r.pdf".to_vec(),
                    shown_as: None,
                },
                Colliding {
                    file_id: "file::a2".into(),
                    node_id: "node-a".into(),
                    export_path: b"/a/y/r.pdf".to_vec(),
                    shown_as: Some(b"r.pdf".to_vec()),
                },
            ],
        }]
    );
    let suffix = dir(
        "/flat",
        json!([mount(
            "node-a",
            "/a",
            "flatten",
            json!([]),
            "suffix_node_id"
        )]),
        false,
    );
    let l = listed(&suffix, &[], &[], &files, &[]);
    assert_eq!(l.entries.len(), 2);
    assert_eq!(l.collisions.len(), 1);
    assert_eq!(l.collisions[0].resolution, Resolution::Suffixed);
    assert!(l.collisions[0].files.iter().all(|c| c.shown_as.is_some()));
    // A file named like a directory.
    let files = vec![
        f("a1", "node-a", "/a/x", "2026-01-01T00:00:00Z"),
        f("a2", "node-a", "/a/x/in", "2026-01-01T00:00:00Z"),
    ];
    let pr = dir(
        "/pr",
        json!([mount(
            "node-a",
            "/a",
            "prefix_replace",
            json!([]),
            "last_write_wins"
        )]),
        false,
    );
    let l = listed(&pr, &[], &[], &files, &[]);
    assert_eq!(l.collisions.len(), 1);
    assert_eq!(l.collisions[0].resolution, Resolution::BesideDirectory);
}

#[test]
fn awkward_utf8_names_are_listed_as_they_are() {
    let long = "n".repeat(255);
    let names_in = [
        "new\nline",
        "tab\there",
        "back\\slash",
        "-leading-dash",
        &long,
    ];
    let files: Vec<FileDoc> = names_in
        .iter()
        .enumerate()
        .map(|(i, n)| {
            f(
                &format!("f{i}"),
                "n",
                &format!("/w/{n}"),
                "2026-01-01T00:00:00Z",
            )
        })
        .collect();
    let d = dir(
        "/w",
        json!([mount(
            "n",
            "/w",
            "prefix_replace",
            json!([]),
            "last_write_wins"
        )]),
        false,
    );
    let mut want: Vec<&str> = names_in.to_vec();
    want.sort();
    assert_eq!(ls(&d, &[], &[], &files, &[]), want);
}
