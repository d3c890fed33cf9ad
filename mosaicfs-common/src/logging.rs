//! Logging set-up shared by the binaries: `tracing` to stderr, level and
//! filters from `MOSAICFS_LOG` (EnvFilter syntax, default `info`), colours
//! only on a terminal.

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOSAICFS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
