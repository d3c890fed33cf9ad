//! `mosaicfs-cli` (issue #6). Only a skeleton so far.

fn main() {
    eprintln!(
        "mosaicfs-cli {}: no commands yet (issue #6).",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
