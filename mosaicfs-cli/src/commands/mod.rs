//! One module per command group; each turns arguments into API calls and
//! prints the answers in the chosen output mode.

pub mod backup;
pub mod credentials;
pub mod files;
pub mod labels;
pub mod login;
pub mod nodes;
pub mod notifications;
pub mod system;
pub mod vfs;

use crate::error::{CliError, Result};
use std::io::{BufRead, IsTerminal, Write};

/// `completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "mosaicfs-cli", &mut buf);
    std::io::stdout().lock().write_all(&buf)?;
    Ok(())
}

/// Whether questions can be asked (stdin and stderr are terminals).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks `question` on stderr and reads a line from stdin; an empty answer
/// takes `default`.
pub fn ask(question: &str, default: Option<&str>) -> Result<String> {
    match default {
        Some(d) => eprint!("{question} [{d}]: "),
        None => eprint!("{question}: "),
    }
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CliError::io("reading the answer"))?;
    if n == 0 {
        return Err(CliError::Usage("no answer (end of input)".into()));
    }
    let answer = line.trim();
    Ok(if answer.is_empty() {
        default.unwrap_or_default().to_string()
    } else {
        answer.to_string()
    })
}

/// A yes/no question; `default` when the answer is empty.
pub fn confirm(question: &str, default: bool) -> Result<bool> {
    let hint = if default { "Y/n" } else { "y/N" };
    let a = ask(&format!("{question} [{hint}]"), None)?;
    Ok(match a.to_lowercase().as_str() {
        "" => default,
        "y" | "yes" => true,
        _ => false,
    })
}
