//! Small file-system helpers shared by the agent, the server and the CLI.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` so that a reader, or the next start after a
/// crash, sees the old file or the new one, never half of one.
///
/// The bytes go to a temporary file beside `path`, which is fsynced and
/// renamed over it; then the directory is fsynced so the rename itself
/// survives a crash. `mode` is given to `open(2)` for the new file (the umask
/// applies, so it can only become more private); `None` keeps the default
/// (0o666 before the umask). The parent directory must exist. On an error
/// the temporary file is removed and `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let tmp = temp_path(path);
    // A temporary file left by a crashed writer with this pid would keep its
    // old mode, since `open(2)` applies the mode only when it creates a file.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        if let Some(mode) = mode {
            options.mode(mode);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// The temporary file [`write_atomic`] writes first: hidden, beside `path`
/// (a rename is atomic only within one file system) and named after the
/// process, so two processes writing the same file do not share one.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.bin");
        write_atomic(&p, b"old", None).unwrap();
        write_atomic(&p, b"new", None).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["state.bin"]);
    }

    #[test]
    fn sets_the_mode_even_over_a_stale_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.toml");
        std::fs::write(temp_path(&p), b"stale").unwrap();
        std::fs::set_permissions(temp_path(&p), std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&p, b"secret", Some(0o600)).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        assert_eq!(names(dir.path()), ["agent.toml"]);
    }

    #[test]
    fn a_failed_rename_removes_the_temp_file() {
        // A non-empty directory cannot be renamed over, even by root.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("target");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("inside"), b"kept").unwrap();
        assert!(write_atomic(&p, b"new", Some(0o600)).is_err());
        assert_eq!(std::fs::read(p.join("inside")).unwrap(), b"kept");
        assert_eq!(names(dir.path()), ["target"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_content() {
        // The temporary file's place is taken by a non-empty directory, so it
        // cannot be created (this holds for root too).
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, b"old").unwrap();
        std::fs::create_dir(temp_path(&p)).unwrap();
        std::fs::write(temp_path(&p).join("x"), b"").unwrap();
        assert!(write_atomic(&p, b"new", Some(0o600)).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
    }
}
