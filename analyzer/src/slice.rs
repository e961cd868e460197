//! `sockrec slice`: a smaller capture cut from others — the seconds around
//! an incident, the processes involved — that is still a capture, for
//! sharing in a postmortem.
//!
//! The rows are the sources' own, in their order, in the sources' schema
//! and format version (a version-1 capture slices to a version-1 capture),
//! written with the recorder's Parquet settings. The metadata is the
//! recording's: probes, filters and lost counts stay, since they tell what
//! the events can and cannot show; the start and end become the cut's
//! where it is narrower; and `sockrec.derived` gains a line saying what was
//! cut, from which files (`docs/capture-format.md`). The file is made as a
//! recording's is ([`NewCapture`]: mode 0600, never over an existing file
//! without `force`), and is only at its path once whole: a slice that
//! fails leaves nothing behind.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use arrow_schema::{Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::logical_expr::{Expr, col, lit};
use futures::StreamExt as _;
use sockrec_capture::schema::{TIME_ZONE, col as column};
use sockrec_capture::{CaptureInfo, CaptureMeta, DerivedCapture, Location};
use sockrec_common::EventKind;

use crate::session::{check_schema, listing_table_of};

/// A point in time of `--since`/`--until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// Unix epoch ns (an RFC 3339 time).
    At(i64),
    /// This long after the recording started (`+30s`).
    AfterStart(Duration),
}

impl Moment {
    /// Unix epoch ns, for a recording that started at `start_ns`.
    fn resolve(self, start_ns: i64) -> i64 {
        match self {
            Moment::At(ns) => ns,
            Moment::AfterStart(d) => {
                start_ns.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            }
        }
    }
}

/// What to keep. Every condition given must hold (a list: any of its
/// values); none given keeps every row.
#[derive(Clone, Debug, Default)]
pub struct Cut {
    /// Events at or after this time.
    pub since: Option<Moment>,
    /// Events before this time.
    pub until: Option<Moment>,
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    /// Hosts: captures of other hosts are not read at all.
    pub hosts: Vec<String>,
    /// Event kinds (`connect`, `tcp_state`...).
    pub kinds: Vec<EventKind>,
    /// A SQL condition over the capture's columns (`--where`).
    pub condition: Option<String>,
}

/// What a slice wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sliced {
    /// Events in the slice.
    pub rows: u64,
    /// Events in the captures it was cut from.
    pub of_rows: u64,
    /// Size of the slice's file.
    pub bytes: u64,
}

/// Writes the events of the captures at `inputs` that `cut` keeps to a new
/// capture at `out` (replacing a file there only with `force`).
pub fn slice(inputs: &[PathBuf], out: &Path, force: bool, cut: &Cut) -> Result<Sliced> {
    let sources = sources(inputs, &cut.hosts)?;
    let mut meta = merged_meta(&sources);
    let since = cut.since.map(|m| m.resolve(meta.start_ns));
    let until = cut.until.map(|m| m.resolve(meta.start_ns));
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        bail!("--since is not before --until: nothing to keep");
    }
    if let Some(since) = since {
        meta.start_ns = meta.start_ns.max(since);
    }
    if let Some(until) = until {
        meta.end_ns = meta.end_ns.min(until).max(meta.start_ns);
    }
    let of_rows = sources.iter().map(|s| s.rows).sum();
    let schema: SchemaRef = Arc::new(sources[0].arrow_schema().clone());
    // Every input, read or not, is kept from being overwritten.
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let mut out_capture = DerivedCapture::create(out, force, schema.clone(), &inputs)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the query runtime")?;
    runtime.block_on(async {
        // One partition: the rows come out in the files' order.
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
        for f in crate::udf::all() {
            ctx.register_udf(f);
        }
        let parquet = ctx.state().table_options().parquet.clone();
        let table = |location: &Location| -> Result<_> {
            Ok(ctx.read_table(Arc::new(listing_table_of(
                location,
                &parquet,
                schema.clone(),
            )?))?)
        };
        let mut keep = conditions(cut, since, until);
        if let Some(sql) = &cut.condition {
            // Planned once: the sources share one schema.
            let df = table(&sources[0].location)?;
            keep.push(
                df.parse_sql_expr(sql)
                    .map_err(|e| anyhow!("--where: {}", e.strip_backtrace()))?,
            );
        }
        let keep = keep.into_iter().reduce(Expr::and);
        for source in &sources {
            let df = table(&source.location)?;
            let df = match &keep {
                Some(keep) => df.filter(keep.clone())?,
                None => df,
            };
            let mut stream = df
                .execute_stream()
                .await
                .map_err(|e| anyhow!("--where: {}", e.strip_backtrace()))?;
            while let Some(batch) = stream.next().await {
                let batch =
                    batch.map_err(|e| anyhow!("{}: {}", source.location, e.strip_backtrace()))?;
                out_capture.write(&batch)?;
            }
        }
        anyhow::Ok(())
    })?;
    let rows = out_capture.rows();
    meta.derived
        .push(derived_line(&sources, cut, since, until, rows, of_rows));
    let bytes = out_capture.finish(&meta)?;
    Ok(Sliced {
        rows,
        of_rows,
        bytes,
    })
}

/// The captures to cut from: those of `hosts` (all, if none), one host's,
/// in one schema.
fn sources(inputs: &[PathBuf], hosts: &[String]) -> Result<Vec<CaptureInfo>> {
    let mut sources = Vec::new();
    for path in inputs {
        let info = CaptureInfo::open(path)?;
        check_schema(&info)?;
        if hosts.is_empty() || hosts.contains(&info.meta.host) {
            sources.push(info);
        }
    }
    let Some(first) = sources.first() else {
        bail!("no capture of host {} among the inputs", hosts.join(","));
    };
    let names: BTreeSet<&str> = sources.iter().map(|s| s.meta.host.as_str()).collect();
    if names.len() > 1 {
        let names: Vec<&str> = names.into_iter().collect();
        bail!(
            "the captures are of several hosts ({}): a capture is one host's; choose one with --host",
            names.join(", ")
        );
    }
    for s in &sources[1..] {
        if s.meta.format_version != first.meta.format_version
            || !same_columns(s.arrow_schema(), first.arrow_schema())
        {
            bail!(
                "{} is capture format {} and {} is format {}: slice them apart",
                first.location,
                first.meta.format_version,
                s.location,
                s.meta.format_version
            );
        }
    }
    Ok(sources)
}

fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
}

/// One recording's facts from its captures (several: files of one host,
/// e.g. a recording cut in parts): the first's, with the span of all, the
/// lost counts summed per CPU, and what differs listed.
fn merged_meta(sources: &[CaptureInfo]) -> CaptureMeta {
    let mut meta = sources[0].meta.clone();
    for s in &sources[1..] {
        let m = &s.meta;
        meta.start_ns = meta.start_ns.min(m.start_ns);
        meta.end_ns = meta.end_ns.max(m.end_ns);
        if meta.lost.len() < m.lost.len() {
            meta.lost.resize(m.lost.len(), 0);
        }
        for (sum, n) in meta.lost.iter_mut().zip(&m.lost) {
            *sum = sum.saturating_add(*n);
        }
        meta.complete &= m.complete;
        for (mine, theirs) in [
            (&mut meta.kernel, &m.kernel),
            (&mut meta.probes, &m.probes),
            (&mut meta.filters, &m.filters),
        ] {
            if !mine.lines().any(|l| l == theirs) && mine != theirs {
                mine.push('\n');
                mine.push_str(theirs);
            }
        }
        for line in &m.derived {
            if !meta.derived.contains(line) {
                meta.derived.push(line.clone());
            }
        }
    }
    meta
}

/// The cut's conditions but `--where`, as DataFusion expressions.
fn conditions(cut: &Cut, since: Option<i64>, until: Option<i64>) -> Vec<Expr> {
    let time = |ns: i64| {
        lit(ScalarValue::TimestampNanosecond(
            Some(ns),
            Some(TIME_ZONE.into()),
        ))
    };
    let any_of = |name: &str, values: &[String]| {
        col(name).in_list(values.iter().map(|v| lit(v.as_str())).collect(), false)
    };
    let mut keep = Vec::new();
    if let Some(since) = since {
        keep.push(col(column::TIME).gt_eq(time(since)));
    }
    if let Some(until) = until {
        keep.push(col(column::TIME).lt(time(until)));
    }
    if !cut.pids.is_empty() {
        keep.push(col(column::PID).in_list(cut.pids.iter().map(|p| lit(*p)).collect(), false));
    }
    let kinds = kind_names(&cut.kinds);
    for (name, values) in [
        (column::COMM, &cut.comms),
        (column::HOST, &cut.hosts),
        (column::KIND, &kinds),
    ] {
        if !values.is_empty() {
            keep.push(any_of(name, values));
        }
    }
    keep
}

fn kind_names(kinds: &[EventKind]) -> Vec<String> {
    kinds.iter().map(|k| k.name().to_string()).collect()
}

/// The `sockrec.derived` line of this slice: from which files, what was
/// kept, how many rows.
fn derived_line(
    sources: &[CaptureInfo],
    cut: &Cut,
    since: Option<i64>,
    until: Option<i64>,
    rows: u64,
    of_rows: u64,
) -> String {
    let names: Vec<String> = sources
        .iter()
        .map(|s| {
            let shown = s.location.to_string();
            match s.location.file().and_then(Path::file_name) {
                Some(name) => name.to_string_lossy().into_owned(),
                None => shown,
            }
        })
        .collect();
    let mut kept = Vec::new();
    let rfc3339 = |ns: i64| {
        let t = std::time::UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
        humantime::format_rfc3339_nanos(t).to_string()
    };
    if let Some(ns) = since {
        kept.push(format!("--since {}", rfc3339(ns)));
    }
    if let Some(ns) = until {
        kept.push(format!("--until {}", rfc3339(ns)));
    }
    if !cut.pids.is_empty() {
        let pids: Vec<String> = cut.pids.iter().map(u32::to_string).collect();
        kept.push(format!("--pid {}", pids.join(",")));
    }
    let kinds = kind_names(&cut.kinds);
    for (flag, values) in [
        ("--comm", &cut.comms),
        ("--host", &cut.hosts),
        ("--events", &kinds),
    ] {
        if !values.is_empty() {
            kept.push(format!("{flag} {}", values.join(",")));
        }
    }
    if let Some(sql) = &cut.condition {
        kept.push(format!("--where {sql:?}"));
    }
    let line = format!(
        "slice of {} ({rows} of {of_rows} events): {}",
        names.join(", "),
        if kept.is_empty() {
            "everything".to_string()
        } else {
            kept.join(" ")
        }
    );
    // One line per step: the metadata's lines are its steps.
    line.replace(['\n', '\r'], " ")
}
