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

use super::{Annotations, Candidate, CompiledStep, StepError, compile_steps, evaluate};
use crate::documents::{
    ConflictPolicy, FileDoc, FileStatus, MountEntry, StepResult, Strategy, VirtualDirectoryDoc,
};
use crate::ids;
use crate::time::Timestamp;
use serde_json::Value;
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

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A file.
    File {
        /// Name in this directory (possibly suffixed).
        name: String,
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
        /// Name in this directory.
        name: String,
        /// Its inode.
        inode: u64,
        /// Its full virtual path.
        virtual_path: String,
        /// True when no document backs it (made by a `prefix_replace` mount).
        synthesized: bool,
    },
}

impl Entry {
    /// The entry's name.
    pub fn name(&self) -> &str {
        match self {
            Entry::File { name, .. } | Entry::Directory { name, .. } => name,
        }
    }
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
/// directory): `(node filter (None = every node), export path prefix ending
/// in "/")`, or `None` when the mount contributes nothing there (`flatten`
/// below the directory itself).
pub fn mount_query(mount: &MountEntry, sub_path: &[&str]) -> Option<(Option<String>, String)> {
    if mount.strategy == Strategy::Flatten && !sub_path.is_empty() {
        return None;
    }
    let mut prefix = mount_base(mount).trim_end_matches('/').to_string();
    for c in sub_path {
        prefix.push('/');
        prefix.push_str(c);
    }
    prefix.push('/');
    let node = (mount.source.node_id != "*").then(|| mount.source.node_id.clone());
    Some((node, prefix))
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

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn suffixed(name: &str, tag: &str) -> String {
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{}~{tag}{}", &name[..i], &name[i..]),
        _ => format!("{name}~{tag}"),
    }
}

/// Lists `virtual_path` (the directory itself, or a synthesized subdirectory
/// of it when `sub_path` is not empty). `candidates[i]` are the files the
/// index returned for `mount_query(mounts[i], sub_path)`; `children` are the
/// child directory documents (used only when `sub_path` is empty). Entries
/// come back sorted by name.
#[allow(clippy::too_many_arguments)]
pub fn list(
    compiled: &CompiledDirectory,
    virtual_path: &str,
    sub_path: &[&str],
    candidates: &[Vec<&FileDoc>],
    children: &[&VirtualDirectoryDoc],
    facts: &dyn Facts,
    now: Timestamp,
) -> Vec<Entry> {
    let empty = BTreeSet::new();
    let mut dirs: BTreeMap<String, Entry> = BTreeMap::new();
    if sub_path.is_empty() {
        for c in children {
            dirs.insert(
                c.name.clone(),
                Entry::Directory {
                    name: c.name.clone(),
                    inode: c.inode,
                    virtual_path: c.virtual_path.clone(),
                    synthesized: false,
                },
            );
        }
    }
    // name → (file, policy) for every file that passed.
    let mut by_name: BTreeMap<String, Vec<(&FileDoc, ConflictPolicy)>> = BTreeMap::new();
    let mut seen_files: HashMap<&str, ()> = HashMap::new();
    for (i, (mount, steps)) in compiled.mounts.iter().enumerate() {
        let Some((node, prefix)) = mount_query(mount, sub_path) else {
            continue;
        };
        let Some(files) = candidates.get(i) else {
            continue;
        };
        let base = format!("{}/", mount_base(mount).trim_end_matches('/'));
        for &file in files {
            if file.status != FileStatus::Active
                || node.as_deref().is_some_and(|n| n != file.source.node_id)
                || !file.source.export_path.starts_with(&prefix)
            {
                continue;
            }
            let relative = &file.source.export_path[base.len()..];
            let below = &file.source.export_path[prefix.len()..];
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
            match mount.strategy {
                Strategy::PrefixReplace => match below.split_once('/') {
                    Some((sub, _)) if !sub.is_empty() => {
                        let path = join(virtual_path, sub);
                        dirs.entry(sub.to_string())
                            .or_insert_with(|| Entry::Directory {
                                name: sub.to_string(),
                                inode: ids::synthesized_dir_inode(&path),
                                virtual_path: path,
                                synthesized: true,
                            });
                    }
                    Some(_) => {}
                    None => {
                        if seen_files.insert(&file.id, ()).is_none() {
                            by_name
                                .entry(below.to_string())
                                .or_default()
                                .push((file, mount.conflict_policy));
                        }
                    }
                },
                Strategy::Flatten => {
                    if seen_files.insert(&file.id, ()).is_none() {
                        by_name
                            .entry(file.name.clone())
                            .or_default()
                            .push((file, mount.conflict_policy));
                    }
                }
            }
        }
    }

    let mut out: BTreeMap<String, Entry> = dirs;
    let file_entry = |name: String, f: &FileDoc| Entry::File {
        name,
        file_id: f.id.clone(),
        inode: f.inode,
        size: f.size,
        mtime: f.mtime,
        node_id: f.source.node_id.clone(),
    };
    for (name, mut files) in by_name {
        let clashes_with_dir = out.contains_key(&name);
        if files.len() == 1 && !clashes_with_dir {
            let (f, _) = files[0];
            out.insert(name.clone(), file_entry(name, f));
            continue;
        }
        let conservative = clashes_with_dir
            || files
                .iter()
                .any(|(_, p)| *p == ConflictPolicy::SuffixNodeId);
        if conservative {
            files.sort_by(|a, b| a.0.id.cmp(&b.0.id));
            let mut nodes: HashMap<&str, usize> = HashMap::new();
            for (f, _) in &files {
                *nodes.entry(f.source.node_id.as_str()).or_default() += 1;
            }
            for (f, _) in files {
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
                out.insert(n.clone(), file_entry(n, f));
            }
        } else {
            let (winner, _) = files
                .into_iter()
                .max_by(|a, b| a.0.mtime.cmp(&b.0.mtime).then_with(|| a.0.id.cmp(&b.0.id)))
                .expect("at least one file per name");
            out.insert(name.clone(), file_entry(name, winner));
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests;
