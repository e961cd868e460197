//! `sockrec query NAME|FILE.sql [-i CAPTURE]...`: a built-in report or SQL
//! over captures (see `docs/queries.md`). The work is the analyzer crate's;
//! this is the command line: which query, which captures, which format.

use anyhow::{Result, anyhow, bail};
use clap::{Args, ValueEnum};
use sockrec_analyzer::{Engine, Format, Limits, Params, Query, REPORTS, reports};
use sockrec_capture::terminal::escape;
use std::{
    io::Write as _,
    path::{Path, PathBuf},
    time::SystemTime,
};

#[derive(Args)]
#[command(
    after_help = "The captures are the SQL table `events`. Built-in reports: sockrec query --list."
)]
pub struct QueryArgs {
    /// A built-in report (tcplife, soconnect... see --list) or a file of SQL.
    #[arg(required_unless_present_any = ["sql", "list"], conflicts_with_all = ["sql", "list"])]
    query: Option<String>,
    /// Run this SQL (one statement, on the table `events`).
    #[arg(short = 'e', long = "sql", value_name = "SQL", conflicts_with = "list")]
    sql: Option<String>,
    /// Capture file, directory of captures or quoted glob; repeat for several
    /// [default: the newest *.parquet in the current directory].
    #[arg(short, long = "input", value_name = "CAPTURE")]
    inputs: Vec<String>,
    /// Output format [default: tool for a built-in report, table for other SQL].
    #[arg(short, long, value_enum)]
    format: Option<FormatArg>,
    /// List the built-in reports.
    #[arg(long)]
    list: bool,
    /// Memory a query may use (e.g. 512M, 8G) before it spills or stops
    /// [default: half of this machine's memory].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
    /// Run the query on a cluster (`sockrec cluster`): its scheduler,
    /// df://HOST:PORT. Every process of it must reach the captures: the
    /// same local paths, or s3:// inputs.
    #[arg(long, value_name = "df://HOST:PORT")]
    cluster: Option<String>,
    /// tcptop's interval, in seconds (fractions allowed); SQL reads it as
    /// `$interval_ns`.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_interval)]
    interval: i64,
}

/// `1`, `0.5`, `10`: seconds, as nanoseconds (at least 1 ms).
pub(crate) fn parse_interval(text: &str) -> Result<i64, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.001..=1e9).contains(&seconds) {
        return Err(format!("{text:?}: out of range (0.001 to 1e9 seconds)"));
    }
    Ok((seconds * 1e9).round() as i64)
}

/// `512M`, `8G`, `1.5G`, `100000`: bytes, with an optional binary suffix
/// (K, M, G, T; `KiB`, `MB`... read the same).
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (like 512M or 8G)"))?;
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("{text:?}: unknown unit (K, M, G or T)")),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !(1.0..=usize::MAX as f64).contains(&bytes) {
        return Err(format!("{text:?}: out of range"));
    }
    Ok(bytes as usize)
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    /// As the BPF tool prints it (built-in reports only).
    Tool,
    /// A text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Tool => Format::Tool,
            FormatArg::Table => Format::Table,
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
        }
    }
}

pub fn run(args: QueryArgs) -> Result<()> {
    // Block-buffered: stdout is line-buffered, which made one write(2)
    // per CSV or JSON line (soconnect's 417 K rows: ~0.2 s of its 0.26).
    let mut stdout = PipeAware {
        inner: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
        broken: false,
    };
    if args.list {
        let width = REPORTS.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for r in REPORTS {
            writeln!(stdout, "{:width$}  {}", r.name, r.summary())?;
        }
        stdout.flush()?;
        return Ok(());
    }
    let query = match (&args.sql, &args.query) {
        (Some(sql), _) => Query::Sql {
            source: "-e".to_string(),
            sql: sql.clone(),
        },
        (None, Some(q)) => resolve(q)?,
        (None, None) => bail!("no query (a report name, a .sql file, or -e SQL)"),
    };
    let inputs = if args.inputs.is_empty() {
        let newest = newest_capture(Path::new("."))?;
        eprintln!(
            "sockrec: reading {} (the newest *.parquet here; -i to choose)",
            escape(&newest.display().to_string())
        );
        vec![newest.display().to_string()]
    } else {
        args.inputs
    };
    let limits = match args.memory_limit {
        Some(memory) => Limits { memory },
        None => Limits::default(),
    };
    let format = args.format.map(Into::into);
    let params = Params {
        interval_ns: args.interval,
    };
    let engine = match &args.cluster {
        None => Engine::Local,
        Some(url) => cluster_engine(url)?,
    };
    let written = sockrec_analyzer::run_on(
        &inputs,
        &query,
        format,
        limits,
        &params,
        &engine,
        &mut stdout,
    )
    .and_then(|()| Ok(stdout.flush()?));
    match written {
        // `sockrec query ... | head`: the reader has what it wanted.
        Err(_) if stdout.broken => Ok(()),
        other => other,
    }
}

#[cfg(feature = "cluster")]
fn cluster_engine(url: &str) -> Result<Engine> {
    sockrec_cluster::engine(url)
}

/// Without the `cluster` feature, `--cluster` is an error.
#[cfg(not(feature = "cluster"))]
fn cluster_engine(url: &str) -> Result<Engine> {
    bail!(
        "--cluster {url}: this sockrec was built without the cluster client (cargo feature `cluster`)"
    )
}

/// Stdout that remembers a broken pipe: the CSV and JSON writers report it
/// as their own error, without the io::Error kind to recognise it by.
struct PipeAware<W> {
    inner: W,
    broken: bool,
}

impl<W: std::io::Write> std::io::Write for PipeAware<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| self.note(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| self.note(e))
    }
}

impl<W> PipeAware<W> {
    fn note(&mut self, e: &std::io::Error) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            self.broken = true;
        }
    }
}

/// An existing file is SQL to run; otherwise the name of a built-in report
/// (`sofamily` or `sofamily.sql`), so `sockrec query soconnect.sql` works
/// anywhere and a local file of that name takes precedence.
pub(crate) fn resolve(q: &str) -> Result<Query> {
    let path = Path::new(q);
    if path.is_file() {
        let sql = std::fs::read_to_string(path).map_err(|e| anyhow!("{q}: {e}"))?;
        return Ok(Query::Sql {
            source: q.to_string(),
            sql,
        });
    }
    if let Some(report) = reports::find(q) {
        return Ok(Query::Report(report));
    }
    if path.exists() {
        bail!("{q}: not a file");
    }
    let names: Vec<&str> = REPORTS.iter().map(|r| r.name).collect();
    bail!(
        "{q}: no such file, nor a built-in report ({})",
        names.join(", ")
    )
}

/// The most recently modified `*.parquet` file in `dir`.
fn newest_capture(dir: &Path) -> Result<PathBuf> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).map_err(|e| anyhow!("{}: {e}", dir.display()))? {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "parquet") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if newest.as_ref().is_none_or(|(t, _)| mtime > *t) {
            newest = Some((mtime, path));
        }
    }
    let (_, path) = newest.ok_or_else(|| {
        anyhow!("no capture given (-i CAPTURE) and no *.parquet in the current directory")
    })?;
    Ok(path)
}
