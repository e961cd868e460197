//! Live reports: the built-in reports (or any SQL) over the events of a
//! recording while it records (`sockrec record --report`), by the same SQL
//! `sockrec query` runs over the capture afterwards, so what was watched
//! and what is queried later cannot disagree.
//!
//! The recorder hands over its own rows (Arrow batches of the capture
//! schema, in time order) and ticks four times a second; each report runs
//! in one of three ways ([`Mode`]), which its SQL's header declares in a
//! `-- live: MODE` line (a SQL file without one is a summary):
//!
//! - `interval` (sockstat, tcptop): at each interval's end, the SQL over
//!   that interval's events, as bpftrace's `interval:s:1` prints. An event
//!   that reaches the report after its interval was printed (late by more
//!   than [`GRACE`]; a CPU's last messages may wait in the kernel's batch
//!   until recording stops) is counted in the next printing, under its own
//!   time: the counts per interval, summed, are the capture's. A report
//!   whose rows need earlier events (tcptop: a connection's ends, from its
//!   connect or accept) names them in a `-- live context: CONDITION` line:
//!   the printed events that meet it are kept and read again with each
//!   interval's (they must not make rows of their own).
//! - `event` (soconnect, tcplife...): at each tick after new events, the
//!   SQL over the events kept so far, printing the rows not printed before
//!   (told apart by their values in Arrow's row format), in the report's
//!   order (each row appears once the events that make it have happened).
//!   Reports that rerun over all they keep are paced ([`PACE`]): the next
//!   run waits four times the last one's length, so a report over many
//!   events prints less often instead of taking a whole core.
//! - `summary` (sofamily, socksize...): at the end, and every `--interval`
//!   if one is given, the SQL over the events kept so far, whole.
//!
//! Events are kept only as far as the report needs them: the SQL's plan
//! says which columns it reads and which rows each scan of `events` keeps
//! (the filter right above it); the rest is dropped as it arrives. A report
//! keeps at most [`KEEP_BYTES`] of events; past that the oldest go (said
//! once on stderr) and its output covers less than the capture, which has
//! everything.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use arrow_array::{Array, BooleanArray, RecordBatch, TimestampNanosecondArray};
use arrow_schema::{DataType, Schema, SchemaRef};
use datafusion::arrow::array::Scalar;
use datafusion::arrow::compute::kernels::cmp::lt;
use datafusion::arrow::compute::{cast, filter_record_batch, or};
use datafusion::arrow::csv;
use datafusion::arrow::json;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::DFSchema;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use sockrec_capture::capture_schema;
use sockrec_capture::schema::TIME_ZONE;

use crate::session::{Limits, Params, QueryResult, Session, TABLE};
use crate::{Format, Query};

/// How long after an interval's end its events may still arrive (the
/// recorder hands rows over every 250 ms, after up to 100 ms in the ring).
pub const GRACE: Duration = Duration::from_millis(500);
/// The most events one report keeps in memory, in Arrow bytes.
pub const KEEP_BYTES: usize = 256 << 20;
/// A report that reruns over everything it keeps (event and summary
/// reports) waits this many times its last run's length before the next,
/// so it takes at most a fifth of a core however much it keeps; its rows
/// still come within a second while a run takes under 200 ms.
pub const PACE: u32 = 4;

/// How a report runs live (its SQL's `-- live: MODE` line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Interval,
    Event,
    Summary,
}

impl Mode {
    /// The mode `sql` declares in its leading comments, `-- live: MODE`;
    /// a summary if it declares none.
    pub fn of(sql: &str) -> Result<Mode> {
        let header = sql.lines().take_while(|l| l.trim_start().starts_with("--"));
        for line in header {
            let text = line.trim_start().trim_start_matches('-').trim();
            let Some(rest) = text.strip_prefix("live:") else {
                continue;
            };
            let word = rest.split([':', ' ']).find(|w| !w.is_empty());
            return match word {
                Some("interval") => Ok(Mode::Interval),
                Some("event") => Ok(Mode::Event),
                Some("summary") => Ok(Mode::Summary),
                other => bail!(
                    "`-- live: {}`: the live mode is interval, event or summary",
                    other.unwrap_or("")
                ),
            };
        }
        Ok(Mode::Summary)
    }
}

/// The `-- live context: CONDITION` of `sql`'s header, if any (see the
/// module doc).
pub fn context_of(sql: &str) -> Option<&str> {
    sql.lines()
        .take_while(|l| l.trim_start().starts_with("--"))
        .find_map(|l| {
            l.trim_start()
                .trim_start_matches('-')
                .trim()
                .strip_prefix("live context:")
        })
        .map(str::trim)
}

/// What the live reports print, and how often.
#[derive(Clone, Copy, Debug)]
pub struct LiveOptions {
    /// The output format (default: each report's own, as `sockrec query`).
    pub format: Option<Format>,
    /// `--interval`: interval reports' length (default 1 s), and how often
    /// summaries print (default: only at the end).
    pub interval: Option<Duration>,
    pub limits: Limits,
}

/// The live reports of one recording.
pub struct LiveReports {
    reports: Vec<LiveReport>,
    /// The capture columns any report reads: what [`LiveReports::events`]
    /// takes.
    columns: Vec<String>,
    out: Box<dyn Write + Send>,
    runtime: tokio::runtime::Runtime,
    /// Events not given to the reports (they were behind), as last said.
    said_behind: u64,
    /// Stdout's reader went away: nothing more is printed.
    closed: bool,
}

/// One report under way.
struct LiveReport {
    name: String,
    query: Query,
    mode: Mode,
    format: Format,
    params: Params,
    /// Each printing's query runs within these.
    limits: Limits,
    /// Summaries with `--interval`: how often they print, and when they
    /// last did.
    summary_every: Option<Duration>,
    last_summary: Instant,
    /// Event reports: whether events were kept since the last printing.
    fresh: bool,
    /// When the last printing ended, and how long it took ([`PACE`]).
    last_end: Instant,
    last_cost: Duration,
    /// Interval reports: the end of the last interval printed (wall-clock
    /// ns).
    printed_until: i64,
    keep: Keep,
    /// The events kept: the interval's (interval reports) or all so far.
    held: Vec<RecordBatch>,
    /// Interval reports: `SELECT * FROM events WHERE` their `-- live
    /// context:`, and the printed events that met it.
    context_sql: Option<String>,
    context: Vec<RecordBatch>,
    held_bytes: usize,
    said_dropped: bool,
    /// Lines of the tool format's head (banner, heading line), printed
    /// once at the start and cut from every later printing.
    head_lines: usize,
    /// Whether CSV's header line has been printed.
    csv_header_done: bool,
    /// Event reports: the rows printed so far, by their values (Arrow's
    /// row format, which compares as the values do), counted.
    printed: HashMap<Box<[u8]>, usize>,
    /// Event reports: the converter of their result's rows to that format,
    /// with the column types it was made for (the first result's).
    rows: Option<(Vec<DataType>, RowConverter)>,
    /// JSON with several reports: each object's first key is `"report"`.
    tagged: bool,
}

/// Which rows and columns of the events a report's SQL reads (and `time`).
struct Keep {
    /// The capture columns read, by name, in the capture's order.
    names: Vec<String>,
    /// The filters right above the scans of `events` (any of them keeps a
    /// row); none: every row.
    filters: Option<Vec<Expr>>,
    /// `names` in the schema of the rows handed over (see [`Keep::bind`]).
    columns: Vec<usize>,
    /// `filters`, evaluated on the rows handed over.
    rows: Option<Vec<Arc<dyn PhysicalExpr>>>,
    /// The kept columns' schema, the report's `events`.
    schema: SchemaRef,
}

impl LiveReports {
    /// Plans `queries` over the capture schema (a query that can't be
    /// planned fails here, before the recording starts) and prints their
    /// heads (banner, heading line) to `out`.
    pub fn new(
        queries: Vec<(String, Query)>,
        options: LiveOptions,
        out: Box<dyn Write + Send>,
    ) -> Result<LiveReports> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the live report runtime")?;
        let several = queries.len() > 1;
        if several && options.format == Some(Format::Csv) {
            bail!("--format csv takes one --report at a time (json tags each row with its report)");
        }
        let mut reports = Vec::with_capacity(queries.len());
        for (name, query) in queries {
            let mut report = runtime
                .block_on(LiveReport::new(name.clone(), query, &options))
                .with_context(|| name.clone())?;
            report.tagged = several;
            reports.push(report);
        }
        // The columns any report reads, in the capture's order: the rows
        // handed over need no others (the recorder drops them first).
        let capture = capture_schema();
        let columns: Vec<String> = capture
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| reports.iter().any(|r| r.keep.names.contains(n)))
            .collect();
        let indices = columns
            .iter()
            .map(|n| capture.index_of(n))
            .collect::<Result<Vec<_>, _>>()?;
        let input = Arc::new(capture.project(&indices)?);
        let ctx = SessionContext::new();
        for r in &mut reports {
            r.keep.bind(&input, &ctx)?;
        }
        let mut live = LiveReports {
            reports,
            columns,
            out,
            runtime,
            said_behind: 0,
            closed: false,
        };
        for i in 0..live.reports.len() {
            let head = live.reports[i].head()?;
            emit(&mut *live.out, &mut live.closed, &head)?;
        }
        emit(&mut *live.out, &mut live.closed, &[])?;
        Ok(live)
    }

    /// The capture columns the reports read: [`LiveReports::events`] takes
    /// rows of these alone, in the capture's order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The recorder's rows (of [`LiveReports::columns`]): kept by each
    /// report as far as it reads them.
    pub fn events(&mut self, batch: &RecordBatch) -> Result<()> {
        for r in &mut self.reports {
            r.take(batch).with_context(|| r.name.clone())?;
        }
        Ok(())
    }

    /// At each tick (four a second): the reports due print; `behind`
    /// events were not given to them (they were too slow), said on stderr
    /// when it grows.
    pub fn tick(&mut self, behind: u64) -> Result<()> {
        self.say_behind(behind);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        for r in &mut self.reports {
            let due = match r.mode {
                Mode::Event => r.fresh && r.paced(),
                // Once an interval has ended (and GRACE more).
                Mode::Interval => r.interval_end(now) > r.printed_until,
                Mode::Summary => {
                    r.summary_every
                        .is_some_and(|every| r.last_summary.elapsed() >= every)
                        && r.paced()
                }
            };
            if r.mode == Mode::Summary && due {
                r.last_summary = Instant::now();
            }
            if due {
                r.fresh = false;
                let start = Instant::now();
                let text = self
                    .runtime
                    .block_on(r.print(Some(now)))
                    .with_context(|| r.name.clone())?;
                r.last_end = Instant::now();
                r.last_cost = r.last_end - start;
                emit(&mut *self.out, &mut self.closed, &text)?;
            }
        }
        emit(&mut *self.out, &mut self.closed, &[])
    }

    /// The recording has ended: every report prints what it has left.
    pub fn finish(&mut self, behind: u64) -> Result<()> {
        self.say_behind(behind);
        for r in &mut self.reports {
            let text = self
                .runtime
                .block_on(r.print(None))
                .with_context(|| r.name.clone())?;
            emit(&mut *self.out, &mut self.closed, &text)?;
        }
        emit(&mut *self.out, &mut self.closed, &[])
    }

    fn say_behind(&mut self, behind: u64) {
        if behind > self.said_behind {
            eprintln!(
                "sockrec: the live reports fell behind: {behind} events not shown so far (the capture has them)"
            );
            self.said_behind = behind;
        }
    }
}

/// Writes `text` to `out` and flushes. A reader that went away (`| head`)
/// ends the printing (`closed`), not the recording: the capture goes on.
fn emit(out: &mut dyn Write, closed: &mut bool, text: &[u8]) -> Result<()> {
    if *closed {
        return Ok(());
    }
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            *closed = true;
            Ok(())
        }
        other => Ok(other?),
    }
}

impl LiveReport {
    async fn new(name: String, query: Query, options: &LiveOptions) -> Result<LiveReport> {
        let (sql, format) = match &query {
            Query::Report(r) => (r.sql, options.format.unwrap_or(Format::Tool)),
            Query::Sql { sql, .. } => (sql.as_str(), options.format.unwrap_or(Format::Table)),
        };
        if let (Format::Tool, Query::Sql { .. }) = (format, &query) {
            bail!("--format tool is only for the built-in reports (sockrec query --list)");
        }
        let mode = Mode::of(sql)?;
        let interval = options.interval.unwrap_or(Duration::from_secs(1));
        let params = Params {
            interval_ns: interval.as_nanos().try_into().unwrap_or(i64::MAX),
        };
        let keep = Keep::plan(sql, &params, options.limits).await?;
        let context_sql = match (mode, context_of(sql)) {
            (Mode::Interval, Some(condition)) => {
                let context = format!("SELECT * FROM {TABLE} WHERE {condition}");
                // Checked now, over the columns the report keeps.
                let empty = Session::in_memory(keep.schema.clone(), Vec::new(), options.limits)?;
                empty
                    .query(&context)
                    .await
                    .context("its `-- live context:` line")?;
                Some(context)
            }
            (_, Some(_)) => bail!("`-- live context:` is for interval reports"),
            (_, None) => None,
        };
        Ok(LiveReport {
            name,
            query,
            mode,
            format,
            params,
            limits: options.limits,
            summary_every: options.interval,
            last_summary: Instant::now(),
            fresh: false,
            last_end: Instant::now(),
            last_cost: Duration::ZERO,
            printed_until: 0,
            keep,
            held: Vec::new(),
            held_bytes: 0,
            context_sql,
            context: Vec::new(),
            said_dropped: false,
            head_lines: 0,
            csv_header_done: false,
            printed: HashMap::new(),
            rows: None,
            tagged: false,
        })
    }

    /// What the report prints before any event: the tool format's banner
    /// and heading line (from a run over no events).
    fn head(&mut self) -> Result<Vec<u8>> {
        let Query::Report(report) = &self.query else {
            return Ok(Vec::new());
        };
        if self.format != Format::Tool {
            return Ok(Vec::new());
        }
        let empty = QueryResult {
            schema: Arc::new(Schema::empty()),
            batches: Vec::new(),
        };
        let mut head = Vec::new();
        // A renderer that can't draw nothing (it wants its columns) has no
        // head to cut.
        if report.render(&empty, &mut head).is_err() {
            head.clear();
        }
        self.head_lines = head.iter().filter(|b| **b == b'\n').count();
        Ok(head)
    }

    /// Whether [`PACE`] times the last printing's length has passed since
    /// it ended.
    fn paced(&self) -> bool {
        self.last_end.elapsed() >= self.last_cost * PACE
    }

    /// Keeps what the report reads of `batch`.
    fn take(&mut self, batch: &RecordBatch) -> Result<()> {
        let Some(kept) = self.keep.apply(batch)? else {
            return Ok(());
        };
        self.held_bytes += kept.get_array_memory_size();
        self.held.push(kept);
        self.fresh = true;
        if self.held_bytes > KEEP_BYTES {
            self.say_dropped();
            while self.held_bytes > KEEP_BYTES / 2 && !self.held.is_empty() {
                let old = self.held.remove(0);
                self.held_bytes -= old.get_array_memory_size();
            }
        }
        Ok(())
    }

    /// Runs the SQL over what is held and returns what to print: at `now`
    /// (wall-clock ns) while recording, `None` at the end.
    async fn print(&mut self, now: Option<i64>) -> Result<Vec<u8>> {
        let batches = match (self.mode, now) {
            (Mode::Interval, Some(now)) => self.take_ended_intervals(now)?,
            (Mode::Interval, None) => {
                self.held_bytes = 0;
                std::mem::take(&mut self.held)
            }
            _ => self.held.clone(),
        };
        if self.mode == Mode::Interval && batches.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = self.context.clone();
        input.extend(batches.iter().cloned());
        let session = Session::in_memory(self.keep.schema.clone(), input, self.limits)?;
        let sql = match &self.query {
            Query::Report(r) => r.sql,
            Query::Sql { sql, .. } => sql.as_str(),
        };
        let mut result = session.query_with(sql, &self.params).await?;
        if self.mode == Mode::Event {
            result = self.not_printed(result)?;
            if result.num_rows() == 0 {
                return Ok(Vec::new());
            }
        }
        if let Some(context) = &self.context_sql {
            let printed = Session::in_memory(self.keep.schema.clone(), batches, self.limits)?;
            let kept = printed.query(context).await?.batches;
            self.context
                .extend(kept.into_iter().filter(|b| b.num_rows() > 0));
            let bytes: usize = self
                .context
                .iter()
                .map(RecordBatch::get_array_memory_size)
                .sum();
            if bytes > KEEP_BYTES {
                self.say_dropped();
                let mut bytes = bytes;
                while bytes > KEEP_BYTES / 2 && !self.context.is_empty() {
                    bytes -= self.context.remove(0).get_array_memory_size();
                }
            }
        }
        self.render(&result)
    }

    /// Says, once, that the oldest events kept are being dropped.
    fn say_dropped(&mut self) {
        if !self.said_dropped {
            eprintln!(
                "sockrec: {}: over {} MiB of events kept for the live report: the oldest are dropped, so it now covers less than the capture (which has them all)",
                self.name,
                KEEP_BYTES >> 20
            );
            self.said_dropped = true;
        }
    }

    /// Interval reports: the held events of intervals that ended at least
    /// [`GRACE`] before `now`; later ones stay held.
    fn take_ended_intervals(&mut self, now: i64) -> Result<Vec<RecordBatch>> {
        let end = self.interval_end(now);
        self.printed_until = end;
        let end = TimestampNanosecondArray::from(vec![end]).with_timezone(TIME_ZONE);
        let end = Scalar::new(end);
        let (mut ended, mut later) = (Vec::new(), Vec::new());
        for batch in std::mem::take(&mut self.held) {
            let time = batch.column_by_name("time").context("no time column")?;
            let before = lt(time, &end)?;
            let after = datafusion::arrow::compute::not(&before)?;
            ended.push(filter_record_batch(&batch, &before)?);
            later.push(filter_record_batch(&batch, &after)?);
        }
        ended.retain(|b| b.num_rows() > 0);
        later.retain(|b| b.num_rows() > 0);
        self.held_bytes = later.iter().map(RecordBatch::get_array_memory_size).sum();
        self.held = later;
        Ok(ended)
    }

    /// Interval reports: the end of the last interval that ended at least
    /// [`GRACE`] before `now` (wall-clock ns).
    fn interval_end(&self, now: i64) -> i64 {
        let interval = self.params.interval_ns.max(1);
        (now - GRACE.as_nanos() as i64).div_euclid(interval) * interval
    }

    /// Event reports: the rows of `result` not printed before (a row
    /// printed once is final: the events that make it have happened), and
    /// counts them as printed.
    fn not_printed(&mut self, result: QueryResult) -> Result<QueryResult> {
        let mut rows = Vec::with_capacity(result.batches.len());
        for batch in &result.batches {
            // From the batches' own types: a plan's schema may say UInt64
            // where its batches carry Decimal128 (a NULL column of a UNION).
            // Later batches are cast to the first's types where they differ,
            // so equal values keep equal bytes from one printing to the next.
            let (types, converter) = match &self.rows {
                Some(made) => made,
                None => {
                    let types: Vec<DataType> = batch
                        .columns()
                        .iter()
                        .map(|c| c.data_type().clone())
                        .collect();
                    let fields = types.iter().cloned().map(SortField::new).collect();
                    self.rows.insert((types, RowConverter::new(fields)?))
                }
            };
            let columns = batch
                .columns()
                .iter()
                .zip(types)
                .map(|(c, t)| match c.data_type() == t {
                    true => Ok(c.clone()),
                    false => cast(c, t),
                })
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(converter.convert_columns(&columns)?);
        }
        let mut seen: HashMap<&[u8], usize> = HashMap::new();
        let mut batches = Vec::with_capacity(result.batches.len());
        for (batch, rows) in result.batches.iter().zip(&rows) {
            let mut new = Vec::with_capacity(batch.num_rows());
            for row in rows.iter() {
                let n = seen.entry(row.data()).or_default();
                *n += 1;
                let printed = match self.printed.get_mut(row.data()) {
                    Some(printed) => printed,
                    None => self.printed.entry(row.data().into()).or_default(),
                };
                new.push(*n > *printed);
                if *n > *printed {
                    *printed = *n;
                }
            }
            batches.push(filter_record_batch(batch, &BooleanArray::from(new))?);
        }
        batches.retain(|b| b.num_rows() > 0);
        Ok(QueryResult {
            schema: result.schema,
            batches,
        })
    }

    /// `result` in the report's format, without what was printed once
    /// (the tool format's head, CSV's header line).
    fn render(&mut self, result: &QueryResult) -> Result<Vec<u8>> {
        let mut text = Vec::new();
        match (&self.query, self.format) {
            (Query::Report(r), Format::Tool) => {
                r.render(result, &mut text)?;
                let cut = (0..self.head_lines).fold(0, |at, _| {
                    text[at..]
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(text.len(), |p| at + p + 1)
                });
                text.drain(..cut);
            }
            (_, Format::Csv) => {
                let mut w = csv::WriterBuilder::new()
                    .with_header(!self.csv_header_done)
                    .build(&mut text);
                if result.batches.is_empty() && !self.csv_header_done {
                    w.write(&RecordBatch::new_empty(result.schema.clone()))?;
                }
                for b in &result.batches {
                    w.write(b)?;
                }
                drop(w);
                self.csv_header_done = true;
            }
            (_, Format::Json) => {
                // One object per line, flushed per printing, for `jq`.
                let mut lines = Vec::new();
                let mut w = json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, json::writer::LineDelimited>(&mut lines);
                for b in &result.batches {
                    w.write(b)?;
                }
                w.finish()?;
                if self.tagged {
                    let tag = format!("{{\"report\":{},", json_string(&self.name));
                    for line in lines.split_inclusive(|b| *b == b'\n') {
                        match line.strip_prefix(b"{") {
                            Some(rest) if rest.first() != Some(&b'}') => {
                                text.extend_from_slice(tag.as_bytes());
                                text.extend_from_slice(rest);
                            }
                            _ => text.extend_from_slice(line),
                        }
                    }
                } else {
                    text = lines;
                }
            }
            (_, format) => crate::output::write(result, format, &mut text)?,
        }
        Ok(text)
    }
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Keep {
    /// What `sql` reads of `events`, from its optimized plan: the columns
    /// of every scan of `events`, and the rows the filter right above each
    /// keeps (a scan without one reads every row).
    async fn plan(sql: &str, params: &Params, limits: Limits) -> Result<Keep> {
        let schema = capture_schema();
        let session = Session::in_memory(schema.clone(), Vec::new(), limits)?;
        let plan = session
            .dataframe(sql, params)
            .await?
            .into_optimized_plan()?;
        let mut columns: Vec<usize> = Vec::new();
        let mut predicates: Vec<Expr> = Vec::new();
        let mut every_row = false;
        let mut filtered: Vec<*const LogicalPlan> = Vec::new();
        plan.apply_with_subqueries(|node| {
            match node {
                LogicalPlan::Filter(f) if matches!(f.input.as_ref(), LogicalPlan::TableScan(_)) => {
                    filtered.push(Arc::as_ptr(&f.input));
                    if let LogicalPlan::TableScan(scan) = f.input.as_ref()
                        && scan.table_name.table() == TABLE
                    {
                        predicates.push(f.predicate.clone());
                    }
                }
                LogicalPlan::TableScan(scan) if scan.table_name.table() == TABLE => {
                    match &scan.projection {
                        Some(p) => columns.extend(p),
                        None => columns.extend(0..schema.fields().len()),
                    }
                    let ptr: *const LogicalPlan = node;
                    if scan.fetch.is_some() || !filtered.contains(&ptr) || !scan.filters.is_empty()
                    {
                        every_row = true;
                    }
                }
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        // Interval reports split what they hold by time.
        columns.push(schema.index_of("time")?);
        columns.sort_unstable();
        columns.dedup();
        let names = columns
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect();
        let mut keep = Keep {
            names,
            filters: (!every_row).then_some(predicates),
            columns: Vec::new(),
            rows: None,
            schema: Arc::new(Schema::empty()),
        };
        keep.bind(&schema, session.context())?;
        Ok(keep)
    }

    /// Makes the keep take rows of `input` (the capture's columns, or
    /// those of them every report reads: [`LiveReports::columns`]).
    fn bind(&mut self, input: &SchemaRef, ctx: &SessionContext) -> Result<()> {
        self.columns = self
            .names
            .iter()
            .map(|n| input.index_of(n))
            .collect::<Result<_, _>>()?;
        self.schema = Arc::new(input.project(&self.columns)?);
        let df_schema = DFSchema::try_from_qualified_schema(TABLE, input)?;
        self.rows = match &self.filters {
            None => None,
            Some(filters) => Some(
                filters
                    .iter()
                    .map(|p| ctx.create_physical_expr(p.clone(), &df_schema))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(())
    }

    /// The rows and columns of `batch` (of the schema [`Keep::bind`] was
    /// given) kept; `None` when no row is.
    fn apply(&self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let batch = match &self.rows {
            None => batch.clone(),
            Some(predicates) => {
                let mut mask: Option<BooleanArray> = None;
                for p in predicates {
                    let value = p.evaluate(batch)?.into_array(batch.num_rows())?;
                    let value = value
                        .as_any()
                        .downcast_ref::<BooleanArray>()
                        .context("a filter that is not true or false")?
                        .clone();
                    mask = Some(match mask {
                        None => value,
                        Some(m) => or(&m, &value)?,
                    });
                }
                match mask {
                    Some(mask) => filter_record_batch(batch, &mask)?,
                    None => return Ok(None),
                }
            }
        };
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        Ok(Some(batch.project(&self.columns)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_name_is_a_json_string() {
        assert_eq!(json_string("tcplife"), r#""tcplife""#);
        assert_eq!(json_string("a\"b\\c\n.sql"), r#""a\"b\\c\u000a.sql""#);
    }

    #[test]
    fn a_mode_is_read_from_the_sql_header() {
        assert_eq!(
            Mode::of("-- x: y\n-- live: event: z\nSELECT 1").unwrap(),
            Mode::Event
        );
        assert_eq!(
            Mode::of("-- live: interval\nSELECT 1").unwrap(),
            Mode::Interval
        );
        // None declared, or only after the header: a summary.
        assert_eq!(Mode::of("SELECT 1\n-- live: event").unwrap(), Mode::Summary);
        assert!(Mode::of("-- live: often\nSELECT 1").is_err());
        let tcptop = crate::reports::find("tcptop").unwrap().sql;
        assert!(
            context_of(tcptop)
                .unwrap()
                .starts_with("kind IN ('connect'")
        );
        assert_eq!(context_of("-- live: interval\nSELECT 1"), None);
        for r in crate::REPORTS {
            assert!(
                r.sql.contains("\n-- live: "),
                "{} declares no live mode",
                r.name
            );
            Mode::of(r.sql).unwrap();
        }
    }
}
