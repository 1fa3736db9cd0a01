//! `s3gate audit`: tools for the audit trail.

use std::path::PathBuf;

use anyhow::Context as _;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check the hash chain of an audit file written with
    /// `[audit] chain = true`. Exits 0 when every link holds, 1 at the
    /// first broken link (named by line number).
    Verify {
        /// The audit file (JSON lines).
        file: PathBuf,
    },
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Verify { file } => {
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            match s3gate::audit::chain::verify(std::io::BufReader::new(f)) {
                Ok(n) => {
                    println!("{}: {n} records, chain intact", file.display());
                    Ok(())
                }
                Err(e) => anyhow::bail!("{}: chain broken: {e}", file.display()),
            }
        }
    }
}
