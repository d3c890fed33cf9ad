//! Readdir evaluation: which entries a virtual directory shows, given its
//! document, its ancestors, its child directories and the candidate files of
//! each mount. Pure: the caller queries its local index with
//! [`mount_query`] and passes the results in.
//!
//! - Inherited steps: every ancestor with `enforce_steps_on_children`
//!   contributes the steps of all its mounts, in mount order, outermost
//!   ancestor first; they run before each mount's own steps.
//! - `prefix_replace` strips the mount's base (`source_prefix`, else
//!   `source.export_path`) and keeps the hierarchy below it: files directly
//!   below the (sub)path are entries, deeper files make synthesized
//!   subdirectories (inode from [`crate::ids::synthesized_dir_inode`]).
//! - `flatten` lists every match directly, and only at the directory itself.
//! - The same file reached through two mounts is listed once.
//! - Name collisions between different files: `last_write_wins` keeps the
//!   newest `mtime` (ties: the larger file id); `suffix_node_id` keeps all,
//!   inserting `~{node_id}` before the extension (and the last 8 characters
//!   of the file id if that still collides; the whole id if even that does). If any mount involved in a
//!   collision uses `suffix_node_id`, it applies (the conservative policy
//!   wins).
//! - Directories (child documents and synthesized ones) take their names
//!   first; a file whose name equals a directory's is renamed as for
//!   `suffix_node_id`.
//! - Names are bytes: two files whose names differ only in bytes that are
//!   not valid UTF-8 are two names, never a collision. Every collision that
//!   remains is returned ([`Listed::collisions`]) with the exact source path
//!   of each file, so the caller can log and count it.

use super::{Annotations, Candidate, CompiledStep, StepError, compile_steps, evaluate};
use crate::documents::{
    ConflictPolicy, FileDoc, FileStatus, MountEntry, StepResult, Strategy, VirtualDirectoryDoc,
};
use crate::time::Timestamp;
use crate::{ids, names};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the evaluator needs to know about files beyond their documents.
pub trait Facts {
    /// The file's effective labels (`None`: no labels).
    fn labels(&self, file: &FileDoc) -> Option<&BTreeSet<String>>;
    /// The `data` of the file's annotation by `plugin`.
    fn annotation(&self, file: &FileDoc, plugin: &str) -> Option<&Value>;
}

/// No labels, no annotations.
pub struct NoFacts;

impl Facts for NoFacts {
    fn labels(&self, _: &FileDoc) -> Option<&BTreeSet<String>> {
        None
    }
    fn annotation(&self, _: &FileDoc, _: &str) -> Option<&Value> {
        None
    }
}

/// One entry of a listing. Names and virtual paths are bytes: a file or
/// directory whose name on disk is not valid UTF-8 is listed under its exact
/// name (see [`crate::names`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A file.
    File {
        /// Name in this directory (possibly suffixed), exact bytes.
        name: Vec<u8>,
        /// The file document id.
        file_id: String,
        /// Its inode (the same in every directory that shows it).
        inode: u64,
        /// Size in bytes.
        size: u64,
        /// Modification time.
        mtime: Timestamp,
        /// Owning node.
        node_id: String,
    },
    /// A subdirectory.
    Directory {
        /// Name in this directory, exact bytes.
        name: Vec<u8>,
        /// Its inode.
        inode: u64,
        /// Its full virtual path, exact bytes (UTF-8 for a directory with a
        /// document; a synthesized one may carry a non-UTF-8 name).
        virtual_path: Vec<u8>,
        /// True when no document backs it (made by a `prefix_replace` mount).
        synthesized: bool,
    },
}

impl Entry {
    /// The entry's exact name.
    pub fn name(&self) -> &[u8] {
        match self {
            Entry::File { name, .. } | Entry::Directory { name, .. } => name,
        }
    }

    /// The entry's name for display (lossy UTF-8).
    pub fn display_name(&self) -> std::borrow::Cow<'_, str> {
        names::lossy(self.name())
    }
}

/// How a name collision was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// `suffix_node_id`: every file is listed, renamed.
    Suffixed,
    /// `last_write_wins`: the newest file is listed, the others are hidden.
    NewestWins,
    /// A file named like a directory: the file is renamed, the directory
    /// keeps its name.
    BesideDirectory,
}

/// One file involved in a [`Collision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Colliding {
    /// The file document id.
    pub file_id: String,
    /// Owning node.
    pub node_id: String,
    /// Exact path on the owning node.
    pub export_path: Vec<u8>,
    /// The name it is listed under; `None` when the policy hid it.
    pub shown_as: Option<Vec<u8>>,
}

/// Two or more files (or a file and a directory) that would have had the
/// same name in one listing. Never silent: the readdir service logs and
/// counts every one it evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The contested name (exact bytes).
    pub name: Vec<u8>,
    /// What the conflict policy did.
    pub resolution: Resolution,
    /// The files involved, in file id order.
    pub files: Vec<Colliding>,
}

/// The result of [`list`]: entries sorted by name, and the collisions met
/// on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    /// Entries, sorted by name (bytewise).
    pub entries: Vec<Entry>,
    /// Name collisions, in name order.
    pub collisions: Vec<Collision>,
}

/// A directory's mounts, compiled, with the inherited steps.
pub struct CompiledDirectory {
    inherited: Vec<CompiledStep>,
    mounts: Vec<(MountEntry, Vec<CompiledStep>)>,
}

impl CompiledDirectory {
    /// Whether mount `i` is a `prefix_replace` mount that includes every
    /// file (no steps of its own, none inherited, default `include`): its
    /// listing then needs only the files directly at the level and one file
    /// per subdirectory, not the whole subtree.
    pub fn lists_one_level(&self, i: usize) -> bool {
        self.inherited.is_empty()
            && self.mounts.get(i).is_some_and(|(m, steps)| {
                steps.is_empty()
                    && m.strategy == Strategy::PrefixReplace
                    && m.default_result == StepResult::Include
            })
    }
}

/// Compiles a directory and the steps it inherits from `ancestors` (root
/// first, excluding the directory itself). Errors name the directory field
/// (`mounts[i].steps[j]…`) or, for an inherited step, the ancestor's path.
pub fn compile_directory(
    dir: &VirtualDirectoryDoc,
    ancestors: &[&VirtualDirectoryDoc],
) -> Result<CompiledDirectory, StepError> {
    let mut inherited = Vec::new();
    for a in ancestors.iter().filter(|a| a.enforce_steps_on_children) {
        for (i, m) in a.mounts.iter().enumerate() {
            let steps = compile_steps(&m.steps, &format!("{}: mounts[{i}].steps", a.virtual_path))?;
            inherited.extend(steps);
        }
    }
    let mut mounts = Vec::with_capacity(dir.mounts.len());
    for (i, m) in dir.mounts.iter().enumerate() {
        mounts.push((
            m.clone(),
            compile_steps(&m.steps, &format!("mounts[{i}].steps"))?,
        ));
    }
    Ok(CompiledDirectory { inherited, mounts })
}

/// The base path a mount maps from.
pub fn mount_base(mount: &MountEntry) -> &str {
    mount
        .source_prefix
        .as_deref()
        .unwrap_or(&mount.source.export_path)
}

/// The index query for a mount at `sub_path` (components below the
/// directory, exact bytes): `(node filter (None = every node), export path
/// prefix ending in "/")`, or `None` when the mount contributes nothing there
/// (`flatten` below the directory itself). The prefix is the lossy form of
/// the exact one (the index orders and ranges the lossy `export_path`):
/// since `/` ends every invalid UTF-8 sequence, the lossy form of a path
/// below an exact prefix starts with the lossy prefix, so the range holds
/// every candidate and [`list`] keeps those below the exact prefix.
pub fn mount_query(mount: &MountEntry, sub_path: &[&[u8]]) -> Option<(Option<String>, String)> {
    let exact = mount_prefix(mount, sub_path)?;
    let node = (mount.source.node_id != "*").then(|| mount.source.node_id.clone());
    Some((node, names::lossy(&exact).into_owned()))
}

/// The exact path prefix (ending in `/`) a mount lists at `sub_path`, or
/// `None` as for [`mount_query`].
fn mount_prefix(mount: &MountEntry, sub_path: &[&[u8]]) -> Option<Vec<u8>> {
    if mount.strategy == Strategy::Flatten && !sub_path.is_empty() {
        return None;
    }
    let mut prefix = mount_base(mount).trim_end_matches('/').as_bytes().to_vec();
    for c in sub_path {
        prefix.push(b'/');
        prefix.extend_from_slice(c);
    }
    prefix.push(b'/');
    Some(prefix)
}

struct FileAnnotations<'a> {
    facts: &'a dyn Facts,
    file: &'a FileDoc,
}

impl Annotations for FileAnnotations<'_> {
    fn data(&self, plugin: &str) -> Option<&Value> {
        self.facts.annotation(self.file, plugin)
    }
}

fn suffixed(name: &[u8], tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + tag.len() + 1);
    match name.iter().rposition(|b| *b == b'.') {
        Some(i) if i > 0 => {
            out.extend_from_slice(&name[..i]);
            out.push(b'~');
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(&name[i..]);
        }
        _ => {
            out.extend_from_slice(name);
            out.push(b'~');
            out.extend_from_slice(tag.as_bytes());
        }
    }
    out
}

/// Lists `virtual_path` (the directory itself, or a synthesized subdirectory
/// of it when `sub_path` is not empty). `candidates[i]` are the files the
/// index returned for `mount_query(mounts[i], sub_path)`; `children` are the
/// child directory documents (used only when `sub_path` is empty). Entries
/// come back sorted by name, with every name collision reported.
///
/// Names are the exact bytes of the files' paths (`source.path_bytes()`);
/// the steps see the lossy `name` and `export_path` (rules are text). A
/// document whose `export_path_bytes` is not base64 cannot be opened and is
/// left out (the local index refuses such documents before they get here).
#[allow(clippy::too_many_arguments)]
pub fn list(
    compiled: &CompiledDirectory,
    virtual_path: &[u8],
    sub_path: &[&[u8]],
    candidates: &[Vec<&FileDoc>],
    children: &[&VirtualDirectoryDoc],
    facts: &dyn Facts,
    now: Timestamp,
) -> Listed {
    let empty = BTreeSet::new();
    let mut dirs: BTreeMap<Vec<u8>, Entry> = BTreeMap::new();
    if sub_path.is_empty() {
        for c in children {
            dirs.insert(
                c.name.as_bytes().to_vec(),
                Entry::Directory {
                    name: c.name.as_bytes().to_vec(),
                    inode: c.inode,
                    virtual_path: c.virtual_path.as_bytes().to_vec(),
                    synthesized: false,
                },
            );
        }
    }
    // name → (file, exact path, policy) for every file that passed.
    type Passed<'a> = Vec<(&'a FileDoc, Cow<'a, [u8]>, ConflictPolicy)>;
    let mut by_name: BTreeMap<Vec<u8>, Passed<'_>> = BTreeMap::new();
    let mut seen_files: HashMap<&str, ()> = HashMap::new();
    for (i, (mount, steps)) in compiled.mounts.iter().enumerate() {
        let (Some((node, _)), Some(prefix)) =
            (mount_query(mount, sub_path), mount_prefix(mount, sub_path))
        else {
            continue;
        };
        let Some(files) = candidates.get(i) else {
            continue;
        };
        let base = format!("{}/", mount_base(mount).trim_end_matches('/'));
        for &file in files {
            if file.status != FileStatus::Active
                || node.as_deref().is_some_and(|n| n != file.source.node_id)
            {
                continue;
            }
            let Ok(path) = file.source.path_bytes_ref() else {
                continue;
            };
            if !path.starts_with(&prefix) {
                continue;
            }
            let below = &path[prefix.len()..];
            // The base is UTF-8 and ends in `/`, so the lossy path starts
            // with it too.
            let relative = file.source.export_path.get(base.len()..).unwrap_or("");
            let ann = FileAnnotations { facts, file };
            let candidate = Candidate {
                relative_path: relative,
                name: &file.name,
                size: file.size,
                mtime: file.mtime,
                mime_type: file.mime_type.as_deref(),
                node_id: &file.source.node_id,
                labels: facts.labels(file).unwrap_or(&empty),
                annotations: &ann,
            };
            if evaluate(
                compiled.inherited.iter().chain(steps.iter()),
                mount.default_result,
                &candidate,
                now,
            ) != StepResult::Include
            {
                continue;
            }
            let name = match mount.strategy {
                Strategy::PrefixReplace => match below.iter().position(|b| *b == b'/') {
                    Some(0) => continue,
                    Some(cut) => {
                        let sub = &below[..cut];
                        let path = names::join(virtual_path, sub);
                        dirs.entry(sub.to_vec())
                            .or_insert_with(|| Entry::Directory {
                                name: sub.to_vec(),
                                inode: ids::synthesized_dir_inode(&path),
                                virtual_path: path,
                                synthesized: true,
                            });
                        continue;
                    }
                    None => below.to_vec(),
                },
                Strategy::Flatten => names::last_component(&path).to_vec(),
            };
            if name.is_empty() || seen_files.insert(&file.id, ()).is_some() {
                continue;
            }
            by_name
                .entry(name)
                .or_default()
                .push((file, path, mount.conflict_policy));
        }
    }

    let mut out: BTreeMap<Vec<u8>, Entry> = dirs;
    let mut collisions = Vec::new();
    let file_entry = |name: Vec<u8>, f: &FileDoc| Entry::File {
        name,
        file_id: f.id.clone(),
        inode: f.inode,
        size: f.size,
        mtime: f.mtime,
        node_id: f.source.node_id.clone(),
    };
    let colliding = |f: &FileDoc, path: Cow<'_, [u8]>, shown_as: Option<Vec<u8>>| Colliding {
        file_id: f.id.clone(),
        node_id: f.source.node_id.clone(),
        export_path: path.into_owned(),
        shown_as,
    };
    for (name, mut files) in by_name {
        let clashes_with_dir = out.contains_key(&name);
        if files.len() == 1 && !clashes_with_dir {
            if let Some((f, _, _)) = files.pop() {
                out.insert(name.clone(), file_entry(name, f));
            }
            continue;
        }
        files.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        let conservative = clashes_with_dir
            || files
                .iter()
                .any(|(_, _, p)| *p == ConflictPolicy::SuffixNodeId);
        let mut involved = Vec::with_capacity(files.len());
        let resolution = if conservative {
            let mut nodes: HashMap<&str, usize> = HashMap::new();
            for (f, _, _) in &files {
                *nodes.entry(f.source.node_id.as_str()).or_default() += 1;
            }
            for (f, path, _) in files {
                // Version-7 file ids start with their creation time, so the
                // distinguishing part of an id is its end.
                let uuid = ids::file_uuid(&f.id).unwrap_or(&f.id);
                let tail = &uuid[uuid.len().saturating_sub(8)..];
                let mut n = if nodes[f.source.node_id.as_str()] > 1 {
                    suffixed(&name, &format!("{}-{tail}", f.source.node_id))
                } else {
                    suffixed(&name, &f.source.node_id)
                };
                if out.contains_key(&n) {
                    // Still taken (an unlucky tail, or a file literally named
                    // like a suffixed one): the whole id is unique.
                    n = suffixed(&name, &format!("{}-{uuid}", f.source.node_id));
                }
                involved.push(colliding(f, path, Some(n.clone())));
                out.insert(n.clone(), file_entry(n, f));
            }
            if clashes_with_dir {
                Resolution::BesideDirectory
            } else {
                Resolution::Suffixed
            }
        } else {
            let winner = files
                .iter()
                .max_by(|a, b| a.0.mtime.cmp(&b.0.mtime).then_with(|| a.0.id.cmp(&b.0.id)))
                .map(|(f, _, _)| f.id.clone());
            for (f, path, _) in files {
                if Some(&f.id) == winner.as_ref() {
                    involved.push(colliding(f, path, Some(name.clone())));
                    out.insert(name.clone(), file_entry(name.clone(), f));
                } else {
                    involved.push(colliding(f, path, None));
                }
            }
            Resolution::NewestWins
        };
        collisions.push(Collision {
            name,
            resolution,
            files: involved,
        });
    }
    Listed {
        entries: out.into_values().collect(),
        collisions,
    }
}

#[cfg(test)]
mod tests;
