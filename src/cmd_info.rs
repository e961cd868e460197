//! `sockrec info CAPTURE...`: what a capture holds, from its footer.

use anyhow::Result;
use sockrec_capture::CaptureInfo;
use std::path::PathBuf;

pub fn run(captures: &[PathBuf]) -> Result<()> {
    for (i, path) in captures.iter().enumerate() {
        let info = CaptureInfo::open(path)?;
        if i > 0 {
            println!();
        }
        print!("{}", info.render());
    }
    Ok(())
}
