//! `sockrec redact`: the command line of a redaction (the redaction
//! itself is the analyzer's [`sockrec_analyzer::redact`]).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use sockrec_analyzer::redact::{Redaction, random_key, read_key, redact};

#[derive(Args)]
pub struct RedactArgs {
    /// The capture to redact.
    #[arg(short, long = "input", value_name = "CAPTURE")]
    input: PathBuf,
    /// The redacted capture.
    #[arg(short, long, value_name = "OUT.parquet")]
    output: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    force: bool,
    /// The key of the replacements (a file of at least 16 bytes, e.g. from
    /// `head -c 32 /dev/urandom`): captures redacted under one key keep
    /// matching names. Without it, a random key is used once.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Leading bits of IPv4 addresses to keep (e.g. 24: the /24 stays visible).
    #[arg(long, value_name = "BITS", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=32))]
    keep_prefix: u8,
    /// Leading bits of IPv6 addresses to keep (e.g. 64).
    #[arg(long, value_name = "BITS", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=128))]
    keep_prefix6: u8,
}

pub fn run(args: RedactArgs) -> Result<()> {
    let key = match &args.key {
        Some(path) => read_key(path)?,
        None => random_key()?,
    };
    let how = Redaction {
        key,
        keep_prefix4: args.keep_prefix,
        keep_prefix6: args.keep_prefix6,
    };
    let done = redact(&args.input, &args.output, args.force, &how)?;
    eprintln!(
        "sockrec: wrote {} events to {}: {} addresses, {} paths, {} names replaced (key {})",
        done.rows,
        args.output.display(),
        done.addresses,
        done.paths,
        done.names,
        done.key_id
    );
    if args.key.is_none() {
        eprintln!(
            "sockrec: the key was random and is not kept: another capture redacted now will not match this one (use --key FILE for that)"
        );
    }
    Ok(())
}
