//! `mosaicfs-cli`: parse the command line, run it, exit with the code of its
//! outcome (see `mosaicfs-cli --help` for the codes).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits 2 (0 for --help/--version).
    let cli = mosaicfs_cli::cli::Cli::try_parse().unwrap_or_else(|e| e.exit());
    ExitCode::from(mosaicfs_cli::main_with(cli))
}
