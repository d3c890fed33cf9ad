//! Errors of the virtual filesystem, each mapped to the errno a FUSE reply
//! carries. Details go to the log where the error is made; the kernel only
//! ever sees the errno.

use std::sync::Arc;

/// A failed VFS operation. `Clone` so one shared in-flight fetch can hand the
/// same failure to every reader waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VfsError {
    /// The file is gone or its document is stale (`ENOENT`).
    #[error("not found: {0}")]
    NotFound(String),
    /// The path is outside every watch path, or the owner refused (`EACCES`).
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// Anything else: an unreachable or misbehaving peer, a digest mismatch,
    /// a local I/O failure (`EIO`).
    #[error("I/O error: {0}")]
    Io(String),
    /// A local I/O error with its source.
    #[error("{context}: {source}")]
    Local {
        /// What was being done.
        context: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// The cache's index database failed.
    #[error("cache index: {0}")]
    Cache(#[from] crate::cache::CacheError),
    /// A transfer from the owning node failed.
    #[error("transfer: {0}")]
    Fetch(#[from] crate::fetch::FetchError),
}

/// The errnos the VFS answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// No such file.
    NoEnt,
    /// Permission denied.
    Acces,
    /// I/O error.
    Io,
}

impl Errno {
    /// The raw OS value for a FUSE reply.
    pub fn raw(self) -> i32 {
        match self {
            Errno::NoEnt => rustix::io::Errno::NOENT.raw_os_error(),
            Errno::Acces => rustix::io::Errno::ACCESS.raw_os_error(),
            Errno::Io => rustix::io::Errno::IO.raw_os_error(),
        }
    }
}

impl VfsError {
    /// The errno for the kernel.
    pub fn errno(&self) -> Errno {
        match self {
            VfsError::NotFound(_) => Errno::NoEnt,
            VfsError::AccessDenied(_) => Errno::Acces,
            VfsError::Local { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Errno::NoEnt
            }
            VfsError::Local { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Errno::Acces
            }
            VfsError::Fetch(e) => e.errno(),
            VfsError::Io(_) | VfsError::Local { .. } | VfsError::Cache(_) => Errno::Io,
        }
    }

    /// A local I/O error with context.
    pub fn local(context: impl Into<String>, source: std::io::Error) -> VfsError {
        VfsError::Local {
            context: context.into(),
            source: Arc::new(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_the_linux_values() {
        assert_eq!(Errno::NoEnt.raw(), 2);
        assert_eq!(Errno::Io.raw(), 5);
        assert_eq!(Errno::Acces.raw(), 13);
        let gone = VfsError::local("open", std::io::ErrorKind::NotFound.into());
        assert_eq!(gone.errno(), Errno::NoEnt);
        assert_eq!(VfsError::Io("x".into()).errno(), Errno::Io);
    }
}
