//! `s3gate presign`: links and forms that let someone without keys reach
//! one object or prefix, signed with the caller's own s3gate session.

use super::presign_post;

#[derive(clap::Subcommand)]
pub enum Command {
    /// A browser upload form for a prefix (POST Object), printed as JSON
    /// like boto3's `generate_presigned_post`: `{"url": …, "fields": {…}}`.
    /// A web page posts the fields and a `file` to the URL; s3gate checks
    /// the form's policy, then the policy file, and stores the file under
    /// `PREFIX${filename}`.
    Post(presign_post::Args),
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Post(args) => presign_post::run(&args),
    }
}
