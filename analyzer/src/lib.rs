//! sockrec's analyzer: SQL over captures, and the reports of BPF
//! Performance Tools ch. 10 and BCC (sockstat, soconnect, tcplife, tcptop,
//! socksize...) rebuilt on it, for `sockrec query`.
//!
//! - [`session`]: a DataFusion session with the captures as table `events`.
//! - [`names`] / [`udf`]: `af_name(family)`, `errno_message(errno)`... so
//!   SQL can say `AF_INET6` and "Connection refused".
//! - [`reports`]: the built-in queries (`queries/*.sql`) and their tool-like
//!   renderers, most declared with [`render`]'s printf tables, bpftrace
//!   `hist()` and count maps.
//! - [`output`]: table, CSV and JSON output.
//! - [`live`]: the same reports over a recording's events while it
//!   records (`sockrec record --report`).
//! - [`slice`]: a smaller capture cut from others (`sockrec slice`);
//!   [`redact`]: one with its addresses and names replaced (`sockrec
//!   redact`).
//!
//! Stable Rust, no privileges, no eBPF: the binary built without the
//! recorder (`--no-default-features`) reads captures on any machine.

pub mod live;
pub mod names;
pub mod output;
pub mod redact;
pub mod render;
pub mod reports;
pub mod session;
pub mod slice;
pub mod udf;

use std::io::Write;

use anyhow::{Context as _, Result};

/// The Arrow of the results (DataFusion's), for those that read them.
pub use datafusion::arrow;
pub use output::Format;
pub use reports::{REPORTS, Report};
pub use session::{Engine, Limits, Params, QueryResult, Session};

/// What to run.
pub enum Query {
    /// A built-in report.
    Report(&'static Report),
    /// SQL from a file (named in errors) or the command line.
    Sql { source: String, sql: String },
}

impl Query {
    /// The format to use when none is asked for: the tool's own for a
    /// report, a table for other SQL.
    pub fn default_format(&self) -> Format {
        match self {
            Query::Report(_) => Format::Tool,
            Query::Sql { .. } => Format::Table,
        }
    }
}

/// Opens `inputs`, runs `query` within `limits` with `params` and prints
/// the result in `format` (default: [`Query::default_format`]) to `out`.
/// A report run on captures that lack a column it needs (see
/// [`Report::needs`]) is an error naming the report, the capture and the
/// column.
pub fn run(
    inputs: &[String],
    query: &Query,
    format: Option<Format>,
    limits: Limits,
    params: &Params,
    out: &mut dyn Write,
) -> Result<()> {
    run_on(inputs, query, format, limits, params, &Engine::Local, out)
}

/// [`run`], with the query run by `engine` (`query --cluster`).
pub fn run_on(
    inputs: &[String],
    query: &Query,
    format: Option<Format>,
    limits: Limits,
    params: &Params,
    engine: &Engine,
    out: &mut dyn Write,
) -> Result<()> {
    let format = format.unwrap_or_else(|| query.default_format());
    if let (Format::Tool, Query::Sql { .. }) = (format, query) {
        anyhow::bail!("--format tool is only for the built-in reports (sockrec query --list)");
    }
    let result = result_on(inputs, query, limits, params, engine)?;
    match (query, format) {
        (Query::Report(r), Format::Tool) => r.render(&result, out)?,
        _ => output::write(&result, format, out)?,
    }
    out.flush()?;
    Ok(())
}

/// Opens `inputs` and runs `query` within `limits` with `params`: what
/// [`run`] prints, and what `sockrec plot` draws. Errors as [`run`]'s.
pub fn result(
    inputs: &[String],
    query: &Query,
    limits: Limits,
    params: &Params,
) -> Result<QueryResult> {
    result_on(inputs, query, limits, params, &Engine::Local)
}

/// [`result`], with the query run by `engine`.
pub fn result_on(
    inputs: &[String],
    query: &Query,
    limits: Limits,
    params: &Params,
    engine: &Engine,
) -> Result<QueryResult> {
    // DataFusion runs partitions as tasks; a multi-threaded runtime lets
    // them use every core on a big capture.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the query runtime")?;
    let (source, sql) = match query {
        Query::Report(r) => (r.name, r.sql),
        Query::Sql { source, sql } => (source.as_str(), sql.as_str()),
    };
    // The scans decode the captures' pages, where parquet-rs can panic on
    // a malformed one (sockrec_capture::panic): that is the capture's
    // error, not sockrec's.
    let result = sockrec_capture::panic::quietly(|| {
        runtime.block_on(async {
            let session = Session::open_on(inputs, limits, engine).await?;
            if let Query::Report(r) = query
                && let Some(l) = session.lacking(r.needs)
            {
                anyhow::bail!(
                    "{}: {} has no column {:?} (capture format version {}); {} needs a capture of version 2 or later, recorded by a newer sockrec",
                    r.name,
                    l.location,
                    l.column,
                    l.format_version,
                    r.name
                );
            }
            session
                .query_with(sql, params)
                .await
                .with_context(|| source.to_string())
        })
    })
    .map_err(|why| {
        anyhow::anyhow!("{source}: reading the captures failed: {why} (is one of them damaged?)")
    })??;
    Ok(result)
}
