//! [`Session`]: a DataFusion context with captures registered as the table
//! `events`, and the naming functions of [`crate::udf`].
//!
//! Inputs are files, directories (their `*.parquet` files) or glob patterns;
//! captures from several hosts go together (every row has the recorder's
//! `host` column, the same value as the file's `sockrec.host` metadata).
//! `events` has the capture's columns (`docs/capture-format.md`) plus
//! `capture`, the file the row came from, to tell apart several captures of
//! one host.
//!
//! Every file is checked before DataFusion sees it — by
//! [`CaptureInfo::open`] (exists, is Parquet, has a readable footer, is a
//! sockrec capture of a format version we read) and by its Arrow schema —
//! so bad input is one clear line naming the file, not a query-time error.
//!
//! A query runs within a memory limit ([`Limits`]): DataFusion's memory
//! pool bounds what its operators hold (a sort beyond it spills to disk, a
//! join's build side beyond it fails), and the result being collected for
//! printing counts against the same limit, so a cartesian join or a huge
//! sort ends in one line instead of taking the machine down.

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use datafusion::common::config::TableParquetOptions;
use datafusion::common::metadata::ScalarAndMetadata;
use datafusion::common::{DataFusionError, ParamValues, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionState;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, lit};
use futures::StreamExt as _;
use sockrec_capture::{CaptureInfo, Location, capture_schema, expand_inputs, is_object_url};
use url::Url;

/// Where a session's queries run: here, or on a cluster. The analyzer
/// knows no engine but DataFusion: a cluster's client is a function that
/// turns a session's state into one whose queries the cluster plans and
/// runs (sockrec-cluster's `engine`, Ballista's `upgrade_for_ballista`).
#[derive(Clone, Default)]
pub enum Engine {
    #[default]
    Local,
    Remote(Arc<dyn Fn(SessionState) -> datafusion::common::Result<SessionState> + Send + Sync>),
}

/// The table the captures are registered as.
pub const TABLE: &str = "events";
/// The column added to the capture's: which file a row came from.
pub const CAPTURE_COLUMN: &str = "capture";

/// Captures registered in a DataFusion session, ready for SQL.
pub struct Session {
    ctx: SessionContext,
    limits: Limits,
    /// Each capture's file and the names of its own columns (a column the
    /// capture schema has and the file lacks reads as NULL in `events`).
    columns: Vec<(Location, u32, Vec<String>)>,
}

/// Values a query may use as named parameters (`$interval_ns`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// `$interval_ns`: the length of tcptop's intervals, ns (`--interval`).
    pub interval_ns: i64,
}

impl Default for Params {
    /// tcptop's default interval, 1 s.
    fn default() -> Params {
        Params {
            interval_ns: 1_000_000_000,
        }
    }
}

/// A capture that lacks a column a report needs.
#[derive(Debug)]
pub struct Lacking<'a> {
    pub location: &'a Location,
    pub format_version: u32,
    pub column: &'a str,
}

/// What one query may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory for the query's operators and, separately, for its
    /// collected result.
    pub memory: usize,
}

impl Default for Limits {
    /// Half of the machine's memory (`MemTotal`), 4 GiB where that can't
    /// be read: a query may use a lot, never the whole machine.
    fn default() -> Limits {
        let total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kib = m.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
                kib.trim().strip_suffix("kB")?.trim().parse::<usize>().ok()
            })
            .map(|kib| kib.saturating_mul(1024));
        Limits {
            memory: total.map_or(4 << 30, |t| t / 2),
        }
    }
}

/// A query's result: its schema (known even with no rows) and batches.
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

impl Session {
    /// Validates every capture `inputs` name (see [`expand_inputs`]) and
    /// registers them all as [`TABLE`], for queries within `limits`.
    ///
    /// `s3://BUCKET/KEY` and `s3://BUCKET/PREFIX/` inputs are objects in a
    /// store (sockrec_store), checked as files are, read by DataFusion
    /// through the same clients; they come after the local files.
    pub async fn open(inputs: &[String], limits: Limits) -> Result<Session> {
        Session::open_on(inputs, limits, &Engine::Local).await
    }

    /// [`Session::open`], with queries run by `engine`.
    pub async fn open_on(inputs: &[String], limits: Limits, engine: &Engine) -> Result<Session> {
        let (objects, files): (Vec<String>, Vec<String>) =
            inputs.iter().cloned().partition(|i| is_object_url(i));
        let paths = if files.is_empty() {
            Vec::new()
        } else {
            expand_inputs(&files)?
        };
        let mut captures = Vec::with_capacity(paths.len());
        for path in &paths {
            captures.push(CaptureInfo::open(path)?);
        }
        let ctx = context(limits)?;
        // Before the functions are registered: a cluster's client state
        // replaces the session's function list with its own.
        let ctx = match engine {
            Engine::Local => ctx,
            Engine::Remote(upgrade) => SessionContext::new_with_state(upgrade(ctx.state())?),
        };
        captures.extend(open_objects(&ctx, &objects).await?);
        for info in &captures {
            check_schema(info)?;
        }

        // A listing table's format does not read the session's Parquet
        // options by itself (`ParquetFormat::default()` has its own): hand
        // them over, or the settings of `context()` do nothing.
        let parquet = ctx.state().table_options().parquet.clone();
        for f in crate::udf::all() {
            ctx.register_udf(f);
        }
        let mut union: Option<DataFrame> = None;
        for info in &captures {
            let mut df = ctx
                .read_table(Arc::new(listing_table(&info.location, &parquet)?))?
                .with_column(CAPTURE_COLUMN, lit(info.location.to_string()))?;
            if let Engine::Remote(_) = engine {
                df = plain_strings(df)?;
            }
            union = Some(match union {
                None => df,
                Some(u) => u.union(df)?,
            });
        }
        let union = union.ok_or_else(|| anyhow!("no capture to read"))?;
        ctx.register_table(TABLE, union.into_view())?;
        let columns = captures
            .iter()
            .map(|info| {
                let names = info.arrow_schema().fields().iter();
                let names = names.map(|f| f.name().clone()).collect();
                (info.location.clone(), info.meta.format_version, names)
            })
            .collect();
        Ok(Session {
            ctx,
            limits,
            columns,
        })
    }

    /// A session whose `events` are `batches` of `schema` (the capture
    /// schema, or some of its columns): what live reports (`sockrec record
    /// --report`) run on, the recorder's own rows in memory.
    pub fn in_memory(
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        limits: Limits,
    ) -> Result<Session> {
        let ctx = context(limits)?;
        for f in crate::udf::all() {
            ctx.register_udf(f);
        }
        ctx.register_table(TABLE, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
        Ok(Session {
            ctx,
            limits,
            columns: Vec::new(),
        })
    }

    /// The first capture that lacks one of `columns` (in `events` it would
    /// read as NULL): a report that needs the column can't be answered.
    pub fn lacking<'a>(&'a self, columns: &[&'a str]) -> Option<Lacking<'a>> {
        self.columns.iter().find_map(|(location, version, have)| {
            let column = columns.iter().find(|c| !have.iter().any(|h| h == *c))?;
            Some(Lacking {
                location,
                format_version: *version,
                column,
            })
        })
    }

    /// The DataFusion context, for planning beyond SQL (live.rs).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs one SQL statement. Queries only: DDL (`CREATE`, `DROP`), DML
    /// (`INSERT`, `COPY`) and `SET` are refused, so a query file can't
    /// write files or change the session behind the reports' back.
    pub async fn query(&self, sql: &str) -> Result<QueryResult> {
        self.query_with(sql, &Params::default()).await
    }

    /// [`Session::query`] with `params` for the named parameters the SQL
    /// uses (`$interval_ns`; see [`Params`]).
    pub async fn query_with(&self, sql: &str, params: &Params) -> Result<QueryResult> {
        let df = self.dataframe(sql, params).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        // Collected batch by batch, counted: DataFusion's pool does not see
        // a result once its operators have handed it over.
        let mut stream = df.execute_stream().await.map_err(|e| self.query_error(e))?;
        let (mut batches, mut held) = (Vec::new(), 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| self.query_error(e))?;
            held += batch.get_array_memory_size();
            if held > self.limits.memory {
                bail!(
                    "the result is larger than the memory limit ({}): add a LIMIT or a WHERE, or raise --memory-limit",
                    show_bytes(self.limits.memory)
                );
            }
            batches.push(batch);
        }
        Ok(QueryResult { schema, batches })
    }

    /// The query `sql` with `params`, planned and not yet run.
    pub async fn dataframe(&self, sql: &str, params: &Params) -> Result<DataFrame> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = self
            .ctx
            .sql_with_options(sql, options)
            .await
            .map_err(query_error)?;
        let df = df
            .with_param_values(ParamValues::Map(
                [(
                    "interval_ns".to_string(),
                    ScalarAndMetadata::from(ScalarValue::Int64(Some(params.interval_ns))),
                )]
                .into(),
            ))
            .map_err(query_error)?;
        Ok(df)
    }

    /// [`query_error`], which names the memory limit when that is what
    /// stopped the query.
    fn query_error(&self, e: DataFusionError) -> anyhow::Error {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(why) => anyhow!(
                "the query needs more than the memory limit ({}; --memory-limit raises it): {}",
                show_bytes(self.limits.memory),
                why.lines().last().unwrap_or(why).trim()
            ),
            _ => query_error(e),
        }
    }
}

/// `df` with its dictionary-encoded columns (`host`, `comm`, `kind`...)
/// as plain strings. On a Ballista 55 cluster, a union of three or more
/// captures sorted (every per-event report) failed in the executors' merge
/// with "It is not possible to interleave arrays of different data types
/// (Dictionary(Int32, Utf8) and Utf8)": one branch reached it decoded.
/// Plain strings print the same in every format.
fn plain_strings(df: DataFrame) -> Result<DataFrame> {
    use datafusion::common::Column;
    use datafusion::logical_expr::{Expr, cast};
    let columns: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let column = Expr::Column(Column::from_name(f.name()));
            match f.data_type() {
                DataType::Dictionary(_, value) => {
                    cast(column, value.as_ref().clone()).alias(f.name())
                }
                _ => column,
            }
        })
        .collect();
    Ok(df.select(columns)?)
}

/// `1.5 GiB`, `512 MiB`: a memory size as a person reads it.
fn show_bytes(n: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = "bytes";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if unit == "bytes" {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// The session the captures are read in, before any is registered.
fn context(limits: Limits) -> Result<SessionContext> {
    // Information schema: `SHOW TABLES`, `SHOW COLUMNS FROM events`.
    let mut config = SessionConfig::new().with_information_schema(true);
    // Captures have no bloom filters: looking for them cost ~7 ms of a
    // report on 10M events (EXPLAIN ANALYZE, bloom_filter_eval_time).
    config.options_mut().execution.parquet.bloom_filter_on_read = false;
    // Greedy, with the top consumers named in its errors (as datafusion-cli
    // sets it up); sorts and aggregations spill to the OS temp directory.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory, 1.0)
        .build_arc()?;
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// The captures in a store that `objects` name, checked, with each
/// bucket's client registered in `ctx` for the scans.
#[cfg(feature = "s3")]
async fn open_objects(ctx: &SessionContext, objects: &[String]) -> Result<Vec<CaptureInfo>> {
    let mut stores = sockrec_store::Stores::new();
    let mut captures = Vec::new();
    for input in objects {
        captures.extend(stores.captures(input).await?);
    }
    for (url, store) in stores.registered() {
        ctx.register_object_store(&url, store);
    }
    Ok(captures)
}

/// Without the `s3` feature, an object's URL is an input it cannot read.
#[cfg(not(feature = "s3"))]
async fn open_objects(_ctx: &SessionContext, objects: &[String]) -> Result<Vec<CaptureInfo>> {
    match objects.first() {
        Some(input) => {
            bail!("{input}: this sockrec was built without object storage (cargo feature `s3`)")
        }
        None => Ok(Vec::new()),
    }
}

/// DataFusion's message alone: its error's source chain repeats it
/// (`SQL error: ParserError("x"): sql parser error: x`), and a parse error
/// reads best as the parser says it.
fn query_error(e: DataFusionError) -> anyhow::Error {
    match e.find_root() {
        DataFusionError::SQL(parser, _) => anyhow!("{parser}"),
        _ => anyhow!("{e}"),
    }
}

/// The capture at `location` as a listing table over exactly that file
/// or object, with the capture schema: a file written before a nullable
/// column was added reads it as NULL.
fn listing_table(location: &Location, parquet: &TableParquetOptions) -> Result<ListingTable> {
    listing_table_of(location, parquet, capture_schema())
}

/// The capture at `location` as a table of `schema`. An object's store
/// must be registered in the session that reads the table.
pub(crate) fn listing_table_of(
    location: &Location,
    parquet: &TableParquetOptions,
    schema: SchemaRef,
) -> Result<ListingTable> {
    let file_url = match location {
        Location::File(path) => {
            // Canonical: DataFusion's object store refuses a `..` in a path
            // (`-i ../capture.parquet`), which `std::path::absolute` keeps.
            let abs = std::fs::canonicalize(path).map_err(|e| anyhow!("{location}: {e}"))?;
            Url::from_file_path(&abs).map_err(|()| anyhow!("{location}: cannot make a file URL"))?
        }
        Location::Object(url) => Url::parse(url).map_err(|e| anyhow!("{location}: {e}"))?,
    };
    // No glob: a file name with `*` or `[` in it is just a name.
    let table_url = ListingTableUrl::try_new(file_url, None)?;
    // Empty extension: captures needn't be called *.parquet.
    let format = ParquetFormat::default().with_options(parquet.clone());
    let options = ListingOptions::new(Arc::new(format)).with_file_extension("");
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(ListingTable::try_new(config)?)
}

/// Whether a file's column of type `have` reads as the capture schema's
/// `want`: the same type, or plain strings where the schema now has a
/// dictionary of strings (captures from before `host`, `kind`, `probe` and
/// `comm` became dictionaries; DataFusion casts them).
fn same_values(have: &DataType, want: &DataType) -> bool {
    match (have, want) {
        (DataType::Utf8, DataType::Dictionary(_, values)) => **values == DataType::Utf8,
        _ => have == want,
    }
}

/// A file with sockrec's metadata but other columns (or other types) would
/// make every report fail obscurely; say which column is wrong instead.
/// Columns missing from the file are fine if nullable (older captures, once
/// columns are added); extra ones are ignored.
pub(crate) fn check_schema(info: &CaptureInfo) -> Result<()> {
    let shown = &info.location;
    let schema = info.arrow_schema();
    for want in capture_schema().fields() {
        match schema.field_with_name(want.name()) {
            Ok(have) if same_values(have.data_type(), want.data_type()) => {}
            Ok(have) => bail!(
                "{shown}: not a sockrec capture: column {:?} is {}, expected {}",
                want.name(),
                have.data_type(),
                want.data_type()
            ),
            Err(_) if want.is_nullable() => {}
            Err(_) => bail!(
                "{shown}: not a sockrec capture: no column {:?}",
                want.name()
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session's Parquet settings (no bloom filter look-ups) reach the
    /// reader of every capture: a listing table's format has options of its
    /// own, and until they were handed over the setting did nothing.
    #[test]
    fn captures_are_read_with_the_session_parquet_options() {
        let ctx = context(Limits::default()).unwrap();
        let parquet = ctx.state().table_options().parquet.clone();
        assert!(!parquet.global.bloom_filter_on_read);
        let fixture =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/host-a.parquet");
        let table = listing_table(&fixture.into(), &parquet).unwrap();
        let format: &dyn std::any::Any = table.options().format.as_ref();
        let format = format.downcast_ref::<ParquetFormat>();
        assert!(!format.unwrap().options().global.bloom_filter_on_read);
    }
}
