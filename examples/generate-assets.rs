//! Writes the man page and the shell completions that the Debian package and the release
//! tarball ship, from the same clap definition the binary parses:
//!
//! ```text
//! cargo run --example generate-assets -- target/assets
//! ```
//!
//! `target/assets/man/*.1.gz` (a page per command) and `target/assets/completions/` (bash, zsh,
//! fish).

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;
use guardrail_followups::cli::Cli;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/assets".into()),
    );
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;

    // One page per command (guardrail-followups.1, guardrail-followups-export.1, …), gzipped
    // as Debian installs them.
    let pages = out.join("man");
    std::fs::create_dir_all(&pages)?;
    clap_mangen::generate_to(Cli::command(), &pages)?;
    for entry in std::fs::read_dir(&pages)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "1") {
            let page = std::fs::read(&path)?;
            let file = std::fs::File::create(path.with_extension("1.gz"))?;
            let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
            gz.write_all(&page)?;
            gz.finish()?;
            std::fs::remove_file(&path)?;
        }
    }

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(
            shell,
            &mut Cli::command(),
            "guardrail-followups",
            &completions,
        )?;
    }
    println!("wrote {}", out.display());
    Ok(())
}
