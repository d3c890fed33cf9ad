//! `mosaicfs-cli`: the command line of a MosaicFS control plane.
//!
//! A thin HTTPS client of the REST API (see `docs/architecture.md`, *REST
//! API*): [`cli`] declares the commands, [`config`] reads `cli.toml` and the
//! overrides, [`client`] talks to the server (certificate pinning, errors
//! mapped to exit codes), [`output`] prints, and `commands/` holds one module
//! per command group. It never talks to CouchDB or to agents.
#![warn(missing_docs)]

pub mod cli;
pub mod client;
mod commands;
pub mod config;
pub mod error;
pub mod output;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::client::{Client, Trust};
use crate::config::{FileConfig, Overrides, Settings};
use crate::error::{CliError, Result};
use crate::output::Output;

/// Everything a command needs: the settings, the output mode, and a way to
/// get a client.
#[derive(Debug)]
pub(crate) struct Context {
    pub settings: Settings,
    pub out: Output,
    /// The command's name, for "not available" messages.
    pub command: String,
}

impl Context {
    /// A client of the configured server with the certificate checks the
    /// settings call for; without a pinned fingerprint and `--insecure`,
    /// the user is sent to `login`.
    pub fn anonymous_client(&self) -> Result<Client> {
        let url = self.settings.require_url()?;
        let trust = if self.settings.insecure {
            insecure_warning();
            Trust::Insecure
        } else {
            match &self.settings.tls_fingerprint {
                Some(fp) => Trust::Pinned(fp.clone()),
                None => {
                    return Err(CliError::Auth(format!(
                        "no certificate is pinned for {url}; run `mosaicfs-cli login {url}` (or pass --tls-fingerprint)"
                    )));
                }
            }
        };
        Client::new(url, trust, self.out.verbose, &self.command)
    }

    /// [`Context::anonymous_client`] with the session token.
    pub fn client(&self) -> Result<Client> {
        let token = self.settings.require_token(chrono::Utc::now())?.to_string();
        Ok(self.anonymous_client()?.with_token(&token))
    }
}

/// The warning `--insecure` prints every time it is used.
pub(crate) fn insecure_warning() {
    eprintln!(
        "WARNING: --insecure: the server's certificate is NOT checked. Anyone on the network path \
         can impersonate the server, read your token and change its answers. Use it only to \
         diagnose, then run `mosaicfs-cli login` to pin the certificate."
    );
}

/// The name of a command for messages (`files search`).
fn command_name(c: &Command) -> String {
    let full = format!("{c:?}");
    let words: Vec<String> = full
        .split(|ch: char| !ch.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(2)
        .map(|w| w.to_lowercase())
        .collect();
    match c {
        Command::Nodes(_)
        | Command::Files(_)
        | Command::Labels(_)
        | Command::Vfs(_)
        | Command::Storage(_)
        | Command::Credentials(_)
        | Command::System(_)
        | Command::Notifications(_) => words.join(" "),
        _ => words.first().cloned().unwrap_or_default(),
    }
}

/// Builds the settings from the global flags, the environment and the file.
fn settings(g: &GlobalArgs) -> Result<Settings> {
    let path = match &g.config {
        Some(p) => p.clone(),
        None => config::default_path(
            std::env::var_os("XDG_CONFIG_HOME"),
            std::env::var_os("HOME"),
        )?,
    };
    let file = FileConfig::load(&path)?;
    Settings::resolve(
        path,
        file,
        Overrides {
            url: g.url.clone(),
            tls_fingerprint: g.tls_fingerprint.clone(),
            token: g.token.clone(),
            insecure: g.insecure,
        },
    )
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let out = Output {
        json: cli.global.json,
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
    };
    if let Command::Completions { shell } = cli.command {
        return commands::completions(shell);
    }
    let ctx = Context {
        settings: settings(&cli.global)?,
        out,
        command: command_name(&cli.command),
    };
    match cli.command {
        Command::Login(args) => commands::login::login(&ctx, args).await,
        Command::Logout => commands::login::logout(&ctx).await,
        Command::Nodes(c) => commands::nodes::run(&ctx, c).await,
        Command::Files(c) => commands::files::run(&ctx, c).await,
        Command::Labels(c) => commands::labels::run(&ctx, c).await,
        Command::Vfs(c) => commands::vfs::run(&ctx, c).await,
        Command::Storage(c) => commands::system::storage(&ctx, c).await,
        Command::Credentials(c) => commands::credentials::run(&ctx, c).await,
        Command::System(c) => commands::system::run(&ctx, c).await,
        Command::Notifications(c) => commands::notifications::run(&ctx, c).await,
        Command::Completions { .. } => Ok(()),
    }
}

/// Parses nothing: runs `cli` on a fresh runtime and returns the exit code,
/// after printing an error as one line on stderr.
pub fn main_with(cli: Cli) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mosaicfs-cli: cannot start the async runtime: {e}");
            return error::EXIT_LOCAL;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => error::EXIT_OK,
        Err(CliError::BrokenPipe) => error::EXIT_OK,
        Err(e) => {
            eprintln!("mosaicfs-cli: error: {e}");
            e.exit_code()
        }
    }
}
