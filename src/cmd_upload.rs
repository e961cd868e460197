//! `sockrec upload CAPTURE... --to s3://BUCKET/PREFIX/`: finished captures
//! into object storage, each at `PREFIX/HOST/START.parquet`, where a
//! fleet's queries (`sockrec query -i s3://BUCKET/PREFIX/`) find them.
//! Every capture is checked before the first byte goes up, and an object
//! already there is kept unless `--force`.

use anyhow::{Context as _, Result};
use sockrec_capture::terminal::escape;
use sockrec_capture::{CaptureInfo, expand_inputs};

#[derive(clap::Args)]
pub struct UploadArgs {
    /// Capture files, directories of captures or quoted globs (as `info` takes them).
    #[arg(required = true)]
    captures: Vec<String>,
    /// The store and prefix: each capture goes to PREFIX/HOST/START.parquet.
    /// Endpoint, region and keys come from the AWS environment or profile.
    #[arg(long, value_name = "s3://BUCKET/PREFIX/")]
    to: String,
    /// Replace an object already at a capture's name.
    #[arg(long)]
    force: bool,
}

pub fn run(args: UploadArgs) -> Result<()> {
    let paths = expand_inputs(&args.captures)?;
    let infos = paths
        .iter()
        .map(|p| CaptureInfo::open(p))
        .collect::<Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the upload runtime")?;
    let mut stores = sockrec_store::Stores::new();
    for (path, info) in paths.iter().zip(&infos) {
        if !info.meta.complete {
            eprintln!(
                "sockrec: {}: not finished by its recorder (killed, or still recording): uploading what it holds",
                escape(&path.display().to_string())
            );
        }
        let url = runtime.block_on(stores.upload(path, info, &args.to, args.force))?;
        println!(
            "{} -> {}",
            escape(&path.display().to_string()),
            escape(&url)
        );
    }
    Ok(())
}
