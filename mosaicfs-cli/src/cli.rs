//! The command line: every command, flag and help text (clap derive).

use crate::error::EXIT_CODES_HELP;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const TOP_HELP: &str = "Examples:
  mosaicfs-cli login https://nas.local:8443
  mosaicfs-cli files search report --label work
  mosaicfs-cli files fetch file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d --output ~/Downloads/
  mosaicfs-cli --json files search '*.pdf' | jq -r '.[].id'

Configuration: $XDG_CONFIG_HOME/mosaicfs/cli.toml (default ~/.config/mosaicfs/cli.toml),
written by `login` with mode 0600: url, access_key_id, tls_fingerprint, token, token_expires_at.
The secret key is never stored; when the token expires, run `login` again.
Environment: MOSAICFS_URL, MOSAICFS_TOKEN, MOSAICFS_CONFIG, MOSAICFS_TLS_FINGERPRINT
(and MOSAICFS_ACCESS_KEY_ID, MOSAICFS_SECRET_KEY for `login`). Flags win over the
environment, which wins over the file.

--json output: exactly one JSON document on stdout. Single objects are the server's
JSON objects as the API returns them (documents without `_rev`); lists are arrays of
the server's list items (`nodes list`, `files search`, `vfs ls`, `credentials list`).
Commands that only act print a small object saying what they did. Errors never go to
stdout: they are one line on stderr and an exit code.";

/// The MosaicFS command line: manage nodes, files, virtual directories and
/// credentials of a MosaicFS control plane over its HTTPS API.
#[derive(Debug, Parser)]
#[command(name = "mosaicfs-cli", version, after_help = format!("{TOP_HELP}\n\n{EXIT_CODES_HELP}"))]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Server URL (overrides the configuration file).
    #[arg(long, global = true, env = "MOSAICFS_URL", value_name = "URL")]
    pub url: Option<String>,
    /// Configuration file [default: $XDG_CONFIG_HOME/mosaicfs/cli.toml].
    #[arg(long, global = true, env = "MOSAICFS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Session token to send instead of the stored one (prefer the
    /// environment variable: arguments are visible to other users).
    #[arg(
        long,
        global = true,
        env = "MOSAICFS_TOKEN",
        hide_env_values = true,
        value_name = "JWT"
    )]
    pub token: Option<String>,
    /// Accept only the server certificate with this SHA-256 fingerprint
    /// (AA:BB:…) instead of the pinned one.
    #[arg(
        long,
        global = true,
        env = "MOSAICFS_TLS_FINGERPRINT",
        value_name = "SHA256"
    )]
    pub tls_fingerprint: Option<String>,
    /// Do NOT check the server's certificate at all. Anyone on the network
    /// path can then read your token and forge answers. Prints a warning
    /// every time.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Machine-readable output: one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only what was asked for (identifiers for lists), no notes or
    /// progress bar.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log every HTTP request and answer on stderr.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a server: check and pin its certificate, exchange an
    /// access key and secret for a 24-hour session token.
    #[command(after_help = "Examples:
  mosaicfs-cli login https://nas.local:8443
      (asks for the access key id and, without echo, the secret key;
       shows the certificate fingerprint and asks to trust it)
  mosaicfs-cli login https://nas.local:8443 --access-key-id MOSAICFS_7F3A9B2C1D4E5F6A \\
      --tls-fingerprint AB:CD:… < /dev/null   (secret from MOSAICFS_SECRET_KEY)")]
    Login(LoginArgs),
    /// Forget the session token (and revoke it on the server).
    #[command(after_help = "Example:\n  mosaicfs-cli logout")]
    Logout,
    /// Machines registered with the control plane.
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaicfs-cli nodes list\n  mosaicfs-cli nodes status laptop\n  mosaicfs-cli nodes mounts list laptop"
    )]
    Nodes(NodesCommand),
    /// Indexed files: search, details, download.
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaicfs-cli files search report\n  mosaicfs-cli files fetch /documents/report.pdf --output ~/Downloads/"
    )]
    Files(FilesCommand),
    /// Labels on files: list them, see a file's, add and remove.
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaicfs-cli labels list\n  mosaicfs-cli labels show /documents/report.pdf\n  mosaicfs-cli labels add /documents/report.pdf taxes 2024"
    )]
    Labels(LabelsCommand),
    /// The virtual namespace: list, create, inspect and edit directories.
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaicfs-cli vfs ls /\n  mosaicfs-cli vfs mkdir /documents\n  mosaicfs-cli vfs edit /documents"
    )]
    Vfs(VfsCommand),
    /// Storage use per node: capacity, use and its history.
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaicfs-cli storage overview\n  mosaicfs-cli storage history laptop --days 7"
    )]
    Storage(StorageCommand),
    /// Access keys: create, list, revoke.
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaicfs-cli credentials create --name backup-script\n  mosaicfs-cli credentials revoke MOSAICFS_7F3A9B2C1D4E5F6A"
    )]
    Credentials(CredentialsCommand),
    /// Notifications: list, acknowledge one, acknowledge all.
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaicfs-cli notifications list\n  mosaicfs-cli notifications ack notification::laptop::first_crawl_complete"
    )]
    Notifications(NotificationsCommand),
    /// The server itself: health, reindex, backup, restore.
    #[command(subcommand, after_help = "Example:\n  mosaicfs-cli system health")]
    System(SystemCommand),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  mosaicfs-cli completions bash > ~/.local/share/bash-completion/completions/mosaicfs-cli
  mosaicfs-cli completions zsh > ~/.zfunc/_mosaicfs-cli
  mosaicfs-cli completions fish > ~/.config/fish/completions/mosaicfs-cli.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Arguments of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Server URL, e.g. https://nas.local:8443 (default: --url, MOSAICFS_URL,
    /// the configured one, else asked).
    #[arg(value_name = "URL")]
    pub server: Option<String>,
    /// Access key id (MOSAICFS_ + 16 hex digits); asked when absent.
    #[arg(long, env = "MOSAICFS_ACCESS_KEY_ID", value_name = "ID")]
    pub access_key_id: Option<String>,
    /// The secret key (prefer the environment variable or the prompt:
    /// arguments are visible to other users). Asked without echo when absent.
    #[arg(
        long,
        env = "MOSAICFS_SECRET_KEY",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub secret_key: Option<String>,
    /// Trust the server's certificate on first use without asking.
    #[arg(long, short)]
    pub yes: bool,
}

/// `nodes` commands.
#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// List nodes.
    #[command(
        after_help = "Examples:\n  mosaicfs-cli nodes list\n  mosaicfs-cli --json nodes list | jq -r '.[] | select(.status==\"online\") | .node_id'"
    )]
    List,
    /// A node's document and its last reported agent status.
    #[command(
        after_help = "Example:\n  mosaicfs-cli nodes status laptop\n\n--json: {\"node\": <node document>, \"status\": <agent_status document or null>}"
    )]
    Status {
        /// The node id.
        node_id: String,
    },
    /// A node's network mounts: other nodes' files it reaches through a
    /// local mount (NFS, SMB, a sync folder) instead of the network transfer.
    #[command(
        subcommand,
        after_help = "Examples:\n  mosaicfs-cli nodes mounts list laptop\n  mosaicfs-cli nodes mounts add laptop --remote-node nas --remote-path /srv/share --local-path /mnt/nas"
    )]
    Mounts(MountsCommand),
}

/// `nodes mounts` commands.
#[derive(Debug, Subcommand)]
pub enum MountsCommand {
    /// List a node's network mounts.
    #[command(after_help = "Example:\n  mosaicfs-cli nodes mounts list laptop")]
    List {
        /// The node that has the mounts.
        node_id: String,
    },
    /// Add a network mount to a node.
    #[command(after_help = "Example:
  mosaicfs-cli nodes mounts add laptop --remote-node nas --remote-path /srv/share \\
      --local-path /mnt/nas --type nfs")]
    Add {
        /// The node that has the mount.
        node_id: String,
        /// The node whose files the mount exposes.
        #[arg(long, value_name = "NODE")]
        remote_node: String,
        /// Absolute path on the remote node at the mount's root.
        #[arg(long, value_name = "PATH")]
        remote_path: String,
        /// Absolute path where it is mounted on this node.
        #[arg(long, value_name = "PATH")]
        local_path: String,
        /// nfs, cifs, icloud_local or gdrive_local.
        #[arg(long = "type", value_name = "TYPE", default_value = "nfs")]
        mount_type: String,
        /// Higher wins when several mounts cover a file.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i64,
    },
    /// Remove a network mount.
    #[command(after_help = "Example:\n  mosaicfs-cli nodes mounts rm laptop 3f2a…")]
    Rm {
        /// The node that has the mount.
        node_id: String,
        /// The mount's id (`nodes mounts list`).
        mount_id: String,
    },
}

/// `labels` commands. FILE is a file id (file::…) or a virtual path.
#[derive(Debug, Subcommand)]
pub enum LabelsCommand {
    /// Every label in use: on how many files directly, by how many rules.
    #[command(after_help = "Example:\n  mosaicfs-cli labels list")]
    List,
    /// A file's labels: direct, and inherited with the rule that gives each.
    #[command(
        after_help = "Example:\n  mosaicfs-cli labels show /documents/report.pdf\n\n--json: {file_id, labels, direct, inherited: [{label, rule_id, rule_name}]}"
    )]
    Show {
        /// The file: its id (file::…) or its virtual path.
        file: String,
    },
    /// Add direct labels to a file (labels already there are kept).
    #[command(after_help = "Example:\n  mosaicfs-cli labels add /documents/report.pdf taxes 2024")]
    Add {
        /// The file: its id (file::…) or its virtual path.
        file: String,
        /// The labels to add.
        #[arg(required = true)]
        labels: Vec<String>,
    },
    /// Remove direct labels from a file (inherited ones come from rules).
    #[command(after_help = "Example:\n  mosaicfs-cli labels rm /documents/report.pdf 2024")]
    Rm {
        /// The file: its id (file::…) or its virtual path.
        file: String,
        /// The labels to remove.
        #[arg(required = true)]
        labels: Vec<String>,
    },
}

/// `files` commands.
#[derive(Debug, Subcommand)]
pub enum FilesCommand {
    /// Search active files by name (substring, or a glob with * ? [) and labels.
    #[command(after_help = "Examples:
  mosaicfs-cli files search report
  mosaicfs-cli files search '*.pdf' --label work --label 2024
  mosaicfs-cli --json files search invoice | jq -r '.[].export_path'")]
    Search {
        /// Name substring or glob, case-insensitive (may be omitted with --label).
        query: Option<String>,
        /// Only files carrying this label (repeatable; all must match).
        #[arg(long = "label", short, value_name = "LABEL")]
        labels: Vec<String>,
        /// At most this many results.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// A file's document.
    #[command(
        after_help = "Examples:\n  mosaicfs-cli files stat file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d\n  mosaicfs-cli files stat /documents/report.pdf"
    )]
    Stat {
        /// The file: its id (file::…) or its virtual path (/documents/report.pdf).
        file_id: String,
    },
    /// Download a file. Resumes an interrupted download (PATH.part) and
    /// checks the final size against the file document.
    #[command(after_help = "Examples:
  mosaicfs-cli files fetch /documents/report.pdf --output ~/Downloads/
  mosaicfs-cli files fetch file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d

The bytes go to PATH.part (its ETag beside it in PATH.part.etag) and are renamed to
PATH when complete. Running the command again after an interruption asks only for the
missing bytes (Range), unless the file changed on the server (If-Range), in which case
it starts over. The server keeps no content hash yet, so only the size is verified.")]
    Fetch {
        /// The file: its id (file::…) or its virtual path (/documents/report.pdf).
        file_id: String,
        /// Where to write: a file path, or an existing directory to put the
        /// file's own name in [default: ./NAME].
        #[arg(long, short, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Overwrite PATH if it exists.
        #[arg(long, short)]
        force: bool,
    },
}

/// `vfs` commands.
#[derive(Debug, Subcommand)]
pub enum VfsCommand {
    /// List a virtual directory.
    #[command(
        after_help = "Examples:\n  mosaicfs-cli vfs ls\n  mosaicfs-cli vfs ls /documents/work"
    )]
    Ls {
        /// Virtual path.
        #[arg(default_value = "/")]
        path: String,
    },
    /// The tree of virtual directories.
    #[command(
        after_help = "Examples:\n  mosaicfs-cli vfs tree\n  mosaicfs-cli vfs tree /documents --depth 2"
    )]
    Tree {
        /// Virtual path of the top.
        #[arg(default_value = "/")]
        path: String,
        /// Levels below the top (default: all).
        #[arg(long)]
        depth: Option<u32>,
    },
    /// Create a virtual directory (its parent must exist, unless --parents).
    #[command(
        after_help = "Examples:\n  mosaicfs-cli vfs mkdir /documents\n  mosaicfs-cli vfs mkdir -p /documents/work/2024"
    )]
    Mkdir {
        /// Virtual path.
        path: String,
        /// Create missing parents too; an existing directory is not an error.
        #[arg(long, short)]
        parents: bool,
    },
    /// Delete a virtual directory.
    #[command(
        after_help = "Examples:\n  mosaicfs-cli vfs rmdir /documents/old\n  mosaicfs-cli vfs rmdir /documents --recursive"
    )]
    Rmdir {
        /// Virtual path.
        path: String,
        /// Also delete every directory below it.
        #[arg(long, short)]
        recursive: bool,
    },
    /// A virtual directory's document (mounts and steps).
    #[command(after_help = "Example:\n  mosaicfs-cli vfs show /documents")]
    Show {
        /// Virtual path.
        path: String,
    },
    /// Edit a directory's document in $EDITOR (default vi). Only `mounts`
    /// and `enforce_steps_on_children` can change; the server validates the
    /// result, and on an error you may edit again.
    #[command(after_help = "Examples:
  mosaicfs-cli vfs edit /documents
  EDITOR=nano mosaicfs-cli vfs edit /photos

A mount looks like:
  {\"source\": {\"node_id\": \"laptop\", \"export_path\": \"/home/me/Documents\"},
   \"strategy\": \"prefix_replace\", \"steps\": [{\"op\": \"glob\", \"pattern\": \"**/*.pdf\"}]}")]
    Edit {
        /// Virtual path.
        path: String,
    },
}

/// `storage` commands.
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Capacity and use of every node's filesystems.
    #[command(after_help = "Example:\n  mosaicfs-cli storage overview")]
    Overview,
    /// Utilization of a node over time.
    #[command(after_help = "Example:\n  mosaicfs-cli storage history laptop --days 7")]
    History {
        /// The node id.
        node_id: String,
        /// How many days back.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

/// `credentials` commands.
#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Create an access key; its secret is shown once.
    #[command(after_help = "Example:\n  mosaicfs-cli credentials create --name laptop-agent")]
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// List access keys (never secrets).
    #[command(after_help = "Example:\n  mosaicfs-cli credentials list")]
    List,
    /// Disable an access key (or delete it with --delete).
    #[command(after_help = "Examples:
  mosaicfs-cli credentials revoke MOSAICFS_7F3A9B2C1D4E5F6A
  mosaicfs-cli credentials revoke MOSAICFS_7F3A9B2C1D4E5F6A --delete

Sessions already opened with the key stay valid until they expire (24 h).")]
    Revoke {
        /// The access key id.
        access_key_id: String,
        /// Delete the credential instead of disabling it.
        #[arg(long)]
        delete: bool,
    },
}

/// `notifications` commands.
#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Notifications, errors first (default: the active ones).
    #[command(after_help = "Examples:
  mosaicfs-cli notifications list
  mosaicfs-cli notifications list --status all --severity error")]
    List {
        /// `active`, `acknowledged`, `resolved`, `current` (active and
        /// acknowledged) or `all`.
        #[arg(long, default_value = "active")]
        status: String,
        /// `info`, `warning` or `error`.
        #[arg(long)]
        severity: Option<String>,
        /// Resolved and acknowledged ones, newest first.
        #[arg(long, conflicts_with = "status")]
        history: bool,
    },
    /// Acknowledge one notification.
    #[command(
        after_help = "Example:\n  mosaicfs-cli notifications ack notification::laptop::storage_near_capacity:uuid-1"
    )]
    Ack {
        /// Its id (`notification::…`, or the part after `notification::`).
        id: String,
    },
    /// Acknowledge every active notification.
    #[command(
        after_help = "Examples:\n  mosaicfs-cli notifications ack-all\n  mosaicfs-cli notifications ack-all --severity warning"
    )]
    AckAll {
        /// Only this severity.
        #[arg(long)]
        severity: Option<String>,
    },
}

/// `system` commands.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Server and database health, version and certificate fingerprint.
    #[command(after_help = "Example:\n  mosaicfs-cli system health")]
    Health,
    /// Rebuild the server's index (needs an endpoint this server may not
    /// have yet).
    #[command(after_help = "Example:\n  mosaicfs-cli system reindex")]
    Reindex,
    /// Download a backup (`_bulk_docs` JSON). The file holds credential
    /// hashes and signing keys (and, for `full`, plugin secrets): it is
    /// written with mode 0600; keep it like a secret.
    #[command(after_help = "Examples:
  mosaicfs-cli system backup --type minimal --output mosaicfs-minimal.json
  mosaicfs-cli system backup --type full --output /backups/mosaicfs-full.json")]
    Backup {
        /// `minimal` (what only the control plane holds; secret plugin
        /// settings redacted) or `full` (every document).
        #[arg(long = "type", value_enum, default_value_t = BackupType::Minimal)]
        kind: BackupType,
        /// Where to write the backup (written as FILE.part, checked, then
        /// renamed into place).
        #[arg(long, short)]
        output: std::path::PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Restore a backup into the server's empty database.
    #[command(after_help = "Example:\n  mosaicfs-cli system restore mosaicfs-minimal.json")]
    Restore {
        /// A file written by `system backup`.
        file: std::path::PathBuf,
    },
}

/// The kinds of backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackupType {
    /// What only the control plane holds.
    Minimal,
    /// Every document.
    Full,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        fn walk(c: &clap::Command, path: &str) {
            let name = format!("{path} {}", c.get_name());
            if c.get_name() != "help" {
                let help = c
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(help.contains("mosaicfs-cli"), "{name} has no example");
            }
            for s in c.get_subcommands() {
                walk(s, &name);
            }
        }
        walk(&Cli::command(), "");
    }
}
