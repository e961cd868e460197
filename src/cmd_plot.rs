//! `sockrec plot`: a report drawn as a chart (the drawing is
//! [`sockrec_plot`]'s, the query [`sockrec_analyzer::result`]'s, the same
//! `sockrec query` prints).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use sockrec_analyzer::{Limits, Params, Query};
use sockrec_capture::NewCapture;
use sockrec_plot::{Format, PLOTTED, charts, draw};

use crate::cmd_query::{parse_interval, parse_size, resolve};

#[derive(Args)]
pub struct PlotArgs {
    /// The report to draw: sockstat, tcptop (lines per second), socksize,
    /// soconnlat, so1stbyte (histograms).
    report: String,
    /// Capture file, directory of captures or quoted glob; repeat for several.
    #[arg(short, long = "input", value_name = "CAPTURE", required = true)]
    inputs: Vec<String>,
    /// The chart: FILE.svg or FILE.png.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    force: bool,
    /// tcptop's interval, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_interval)]
    interval: i64,
    /// Memory the query may use (e.g. 512M, 8G) [default: half of this machine's memory].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
}

pub fn run(args: PlotArgs) -> Result<()> {
    let query = resolve(&args.report)?;
    let Query::Report(report) = &query else {
        bail!(
            "plot draws the built-in reports {}; for other SQL, use query --format csv and a plotting tool",
            PLOTTED.join(", ")
        );
    };
    if !PLOTTED.contains(&report.name) {
        bail!(
            "{} is not drawn (plot draws {}); sockrec query {} prints it",
            report.name,
            PLOTTED.join(", "),
            report.name
        );
    }
    // Made first (0600, never through a symlink; with --force replaced
    // only once drawn), so a path that cannot be written fails before the
    // query runs.
    let format = Format::of(&args.output)?;
    let out = NewCapture::create_file(&args.output, args.force, "chart")?;
    let limits = match args.memory_limit {
        Some(memory) => Limits { memory },
        None => Limits::default(),
    };
    let params = Params {
        interval_ns: args.interval,
    };
    let result = sockrec_analyzer::result(&args.inputs, &query, limits, &params)?;
    let charts = charts(report.name, &result, args.interval as f64 / 1e9)?;
    draw(&charts, format, out.written_at())?;
    out.place()?;
    eprintln!(
        "sockrec: drew {} chart(s) of {} to {}",
        charts.len(),
        report.name,
        args.output.display()
    );
    Ok(())
}
