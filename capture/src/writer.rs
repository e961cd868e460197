//! [`CaptureWriter`]: writes events to a capture file that stays a valid
//! Parquet file after every flush.
//!
//! A Parquet file is only readable once its footer (the file metadata: schema,
//! row group locations, key-value metadata) is written at its end, and a plain
//! `ArrowWriter` only writes it on close: a recorder killed with SIGKILL, OOM
//! or a power cut would leave an unreadable file. So each [`CaptureWriter::flush`]
//!
//! 1. writes the buffered events as a row group, through the `ArrowWriter`,
//!    at the file cursor (where the previous row group ended);
//! 2. writes a *provisional footer* describing every row group so far (with
//!    `sockrec.complete=false`) right after it, with `pwrite` so the file
//!    cursor stays put, trims the file to end there, and `fdatasync`s.
//!
//! The next flush's row group overwrites that provisional footer, and
//! [`CaptureWriter::finish`] overwrites the last one with the real footer
//! (page indexes, `sockrec.complete=true`). Readers only look at the end of
//! the file, so between flushes the file is exactly a complete Parquet file
//! with the rows flushed so far. The only window where it is not is while a
//! flush or finish is writing.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Seek};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use arrow_schema::SchemaRef;
use parquet::arrow::{ARROW_SCHEMA_META_KEY, arrow_writer::ArrowWriterOptions};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, encode_arrow_schema};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sockrec_common::SocketEvent;

use crate::batch::EventBatch;
use crate::footer::FooterBuilder;
use crate::schema::{self, FORMAT_VERSION, capture_schema, col};

/// ZSTD level of the column chunks: 3 is zstd's default, a good
/// speed/ratio balance for a recorder that must keep up with the kernel.
pub const ZSTD_LEVEL: i32 = 3;

/// Capture-wide facts stored in the file's key-value metadata (see
/// `docs/capture-format.md`). The writer updates `end_ns` in provisional
/// footers itself; everything else is the caller's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureMeta {
    /// Host name; also the value of every row's `host` column.
    pub host: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// Wall-clock Unix ns of boot: `time = boot_time_ns + time_ns`.
    pub boot_time_ns: i64,
    /// When recording started, Unix epoch ns.
    pub start_ns: i64,
    /// When recording ended, Unix epoch ns. Leave 0 to have
    /// [`CaptureWriter::finish`] use the time it runs; provisional footers
    /// always carry the time of their flush.
    pub end_ns: i64,
    /// The attached probes, as text.
    pub probes: String,
    /// Events lost per CPU (ring buffer full).
    pub lost: Vec<u64>,
    /// The recording's filters, as text.
    pub filters: String,
    /// Version of the sockrec writing the file.
    pub sockrec_version: String,
}

impl CaptureMeta {
    /// The `sockrec.*` key-value pairs of a footer.
    fn key_values(&self, end_ns: i64, complete: bool) -> Vec<KeyValue> {
        let lost = self
            .lost
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        [
            (schema::META_FORMAT_VERSION, FORMAT_VERSION.to_string()),
            (schema::META_VERSION, self.sockrec_version.clone()),
            (schema::META_HOST, self.host.clone()),
            (schema::META_KERNEL, self.kernel.clone()),
            (schema::META_BOOT_TIME_NS, self.boot_time_ns.to_string()),
            (schema::META_START_NS, self.start_ns.to_string()),
            (schema::META_END_NS, end_ns.to_string()),
            (schema::META_PROBES, self.probes.clone()),
            (schema::META_LOST, lost),
            (schema::META_FILTERS, self.filters.clone()),
            (schema::META_COMPLETE, complete.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| KeyValue::new(k.to_string(), v))
        .collect()
    }
}

/// What [`CaptureWriter::finish`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureSummary {
    /// Events (rows) in the file.
    pub rows: u64,
    /// Size of the finished file.
    pub bytes: u64,
}

/// Writes one capture file. See the module documentation for how the file
/// stays readable between flushes.
///
/// Dropping a writer without [`CaptureWriter::finish`] loses the rows pushed
/// since the last flush and leaves the file as of that flush (readable,
/// `sockrec.complete=false`).
pub struct CaptureWriter {
    path: PathBuf,
    writer: ArrowWriter<File>,
    batch: EventBatch,
    meta: CaptureMeta,
    /// `ARROW:schema` metadata, so readers of a provisional footer get the
    /// exact Arrow types back (e.g. the `time` column's UTC zone).
    arrow_schema_kv: KeyValue,
    footer: FooterBuilder,
    rows_written: u64,
    /// Length of the provisional footer currently at the end of the file.
    footer_len: u64,
}

impl CaptureWriter {
    /// Creates the capture file at `path` (mode 0600: captures reveal who
    /// talked to whom) and makes it a valid, empty capture right away.
    ///
    /// Fails if the file exists, unless `force`, which truncates it.
    pub fn create(path: &Path, force: bool, meta: CaptureMeta) -> Result<Self> {
        let mut opts = OpenOptions::new();
        opts.write(true).mode(0o600);
        if force {
            opts.create(true).truncate(true);
        } else {
            // create_new is atomic (O_EXCL): no window where an existing
            // capture could be clobbered.
            opts.create_new(true);
        }
        let file = opts.open(path).map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => anyhow::anyhow!(
                "capture {} already exists (use --force to overwrite)",
                path.display()
            ),
            _ => anyhow::Error::new(e).context(format!("creating capture {}", path.display())),
        })?;

        let schema: SchemaRef = capture_schema();
        let props = writer_properties()?;
        let parquet_schema = Arc::new(
            ArrowSchemaConverter::new()
                .with_coerce_types(props.coerce_types())
                .convert(&schema)?,
        );
        // Footers are encoded with the very schema descriptor the writer
        // gets, so they describe exactly what it writes.
        let footer = FooterBuilder::new(
            parquet_schema.clone(),
            props.created_by().to_string(),
            props.writer_version().as_num(),
            props.write_path_in_schema(),
        );
        let options = ArrowWriterOptions::new()
            .with_properties(props)
            .with_parquet_schema((*parquet_schema).clone());
        let writer = ArrowWriter::try_new_with_options(file, schema.clone(), options)
            .with_context(|| format!("creating capture {}", path.display()))?;

        let mut w = CaptureWriter {
            path: path.to_path_buf(),
            writer,
            batch: EventBatch::new(meta.boot_time_ns),
            meta,
            arrow_schema_kv: KeyValue::new(
                ARROW_SCHEMA_META_KEY.to_string(),
                encode_arrow_schema(&schema),
            ),
            footer,
            rows_written: 0,
            footer_len: 0,
        };
        // A capture killed before its first flush is then an empty capture,
        // not a 4-byte file nothing can open.
        w.flush()?;
        Ok(w)
    }

    /// Buffers one event. `probe` names the attach point that produced it
    /// (the `probe` column), e.g. `tracepoint:syscalls:sys_exit_connect`.
    pub fn push(&mut self, ev: &SocketEvent, probe: &'static str) {
        self.batch.push(ev, probe);
    }

    /// Events buffered since the last flush.
    pub fn buffered_rows(&self) -> usize {
        self.batch.len()
    }

    /// Events flushed to the file so far.
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }

    /// Current size of the file (row groups and provisional footer).
    pub fn bytes_written(&self) -> u64 {
        self.writer.bytes_written() as u64 + self.footer_len
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The metadata the next footer will carry.
    pub fn meta(&self) -> &CaptureMeta {
        &self.meta
    }

    /// Changes the metadata the next footer will carry (`boot_time_ns` and
    /// `host` only affect the metadata, not rows already buffered).
    pub fn meta_mut(&mut self) -> &mut CaptureMeta {
        &mut self.meta
    }

    /// Sets the per-CPU lost event counts.
    pub fn set_lost(&mut self, per_cpu: Vec<u64>) {
        self.meta.lost = per_cpu;
    }

    /// Sets the description of the attached probes.
    pub fn set_probes(&mut self, probes: String) {
        self.meta.probes = probes;
    }

    /// Sets the description of the recording's filters.
    pub fn set_filters(&mut self, filters: String) {
        self.meta.filters = filters;
    }

    /// Writes the buffered events as a row group and a provisional footer:
    /// when this returns, the file on disk is a complete Parquet file with
    /// every event flushed so far, even if the process dies next. Also
    /// refreshes the footer's metadata (lost counts, end time) when nothing
    /// is buffered.
    pub fn flush(&mut self) -> Result<()> {
        self.write_row_group()?;
        let end = self.writer.bytes_written() as u64;
        let footer = self.provisional_footer(now_ns())?;
        let file = self.writer.inner();
        // pwrite: the cursor stays at the end of the data, where the next
        // row group (or the final footer) will overwrite this footer.
        file.write_all_at(&footer, end)
            .and_then(|()| file.set_len(end + footer.len() as u64))
            // A crash only needs the data in the page cache; fdatasync makes
            // a finished flush survive a power cut too. (A power cut *during*
            // a flush can leave any mix of old and new blocks: the window
            // documented in docs/capture-format.md.)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing capture {}", self.path.display()))?;
        self.footer_len = footer.len() as u64;
        Ok(())
    }

    /// Flushes the last events, writes the final footer (with page indexes
    /// and `sockrec.complete=true`) and syncs the file.
    pub fn finish(mut self) -> Result<CaptureSummary> {
        self.write_row_group()?;
        let end_ns = match self.meta.end_ns {
            0 => now_ns(),
            t => t,
        };
        for kv in self.meta.key_values(end_ns, true) {
            self.writer.append_key_value_metadata(kv);
        }
        let ctx = || format!("finishing capture {}", self.path.display());
        // Written at the cursor, over the provisional footer.
        self.writer.finish().with_context(ctx)?;
        let len = self.writer.bytes_written() as u64;
        let file = self.writer.inner();
        // The final footer may be shorter than the provisional one it replaced.
        file.set_len(len)
            .and_then(|()| file.sync_all())
            .with_context(ctx)?;
        Ok(CaptureSummary {
            rows: self.rows_written,
            bytes: len,
        })
    }

    /// Writes the buffered events as one row group (if any) and pushes them
    /// out of the `ArrowWriter`'s buffer into the file.
    fn write_row_group(&mut self) -> Result<()> {
        let ctx = || format!("writing capture {}", self.path.display());
        if !self.batch.is_empty() {
            let batch = self.batch.finish(&self.meta.host)?;
            self.writer.write(&batch).with_context(ctx)?;
            self.writer.flush().with_context(ctx)?;
            self.rows_written += batch.num_rows() as u64;
        }
        self.writer.sync().with_context(ctx)?;
        // Everything below relies on the file cursor being exactly where
        // the writer thinks the data ends; check it rather than corrupt.
        // (`Seek` is implemented for `&File`: no need to own the file.)
        let mut file: &File = self.writer.inner();
        let pos = file.stream_position().with_context(ctx)?;
        if pos != self.writer.bytes_written() as u64 {
            bail!(
                "{}: file position {pos} is not the end of the written data ({})",
                self.path.display(),
                self.writer.bytes_written()
            );
        }
        Ok(())
    }

    /// Encodes a footer covering every row group written so far.
    fn provisional_footer(&mut self, end_ns: i64) -> Result<Vec<u8>> {
        let all = self.writer.flushed_row_groups();
        self.footer
            .add_row_groups(&all[self.footer.row_group_count()..])?;
        let mut kv = vec![self.arrow_schema_kv.clone()];
        kv.extend(self.meta.key_values(end_ns, false));
        // No page indexes: the ArrowWriter keeps them private until finish.
        // Readers fall back to the row group statistics.
        self.footer.encode(kv, all)
    }

    #[cfg(test)]
    pub(crate) fn flushed_row_groups(&self) -> &[parquet::file::metadata::RowGroupMetaData] {
        self.writer.flushed_row_groups()
    }
}

/// ZSTD, dictionaries for the repetitive columns, statistics for pruning.
fn writer_properties() -> Result<WriterProperties> {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        // Row groups are cut by the caller's flushes, never by size.
        .set_max_row_group_row_count(None);
    // Timestamps and latencies are nearly all distinct: a dictionary attempt
    // would only cost time before falling back to plain encoding. Times grow
    // by small steps, which delta encoding stores in a few bits: measured on
    // a UDP loop capture, it cut the file by 56% (`cargo xtask bench size`).
    for c in [col::TIME, col::TIME_NS, col::LATENCY_NS] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c), false);
    }
    for c in [col::TIME, col::TIME_NS] {
        b = b.set_column_encoding(ColumnPath::from(c), Encoding::DELTA_BINARY_PACKED);
    }
    Ok(b.build())
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn meta() -> CaptureMeta {
        CaptureMeta {
            host: "h".into(),
            kernel: "k".into(),
            boot_time_ns: 1_700_000_000_000_000_000,
            start_ns: 1_700_000_000_000_000_000,
            lost: vec![0],
            sockrec_version: "0".into(),
            ..CaptureMeta::default()
        }
    }

    /// A path in the temp dir unique to this process and `name`.
    pub(crate) fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "sockrec-capture-unit-{}-{name}.parquet",
            std::process::id()
        ))
    }

    #[test]
    fn key_values_cover_every_key() {
        let mut m = meta();
        m.lost = vec![1, 2, 3];
        let kv = m.key_values(5, true);
        let get = |k: &str| {
            kv.iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.clone())
        };
        assert_eq!(get(schema::META_LOST).as_deref(), Some("1,2,3"));
        assert_eq!(get(schema::META_END_NS).as_deref(), Some("5"));
        assert_eq!(get(schema::META_COMPLETE).as_deref(), Some("true"));
        assert_eq!(get(schema::META_FORMAT_VERSION).as_deref(), Some("1"));
        assert_eq!(kv.len(), 11);
    }
}
