//! [`CaptureWriter`]: writes events to a capture file that is a valid
//! Parquet file at every moment, even while a flush is being written.
//!
//! A Parquet file is only readable once its footer (the file metadata: schema,
//! row group locations, key-value metadata) is written at its end, and a plain
//! `ArrowWriter` only writes it on close: a recorder killed with SIGKILL, OOM
//! or a power cut would leave an unreadable file. So the `ArrowWriter`
//! writes into a [`Spool`] in memory, and each [`CaptureWriter::flush`]
//! places the spooled row group in the file together with a *provisional
//! footer* describing every row group so far (`sockrec.complete=false`),
//! without ever leaving the file's end without a whole footer:
//!
//! 1. the current footer is copied past the end of what the flush will
//!    write, so the file still ends with it (the *guard*); `fdatasync`;
//! 2. the row group and the new footer are written where the data ended,
//!    over the old footer, which is no longer the end; `fdatasync`;
//! 3. the file is cut right after the new footer (`ftruncate`, one atomic
//!    size change): the guard is gone and the new footer is the end;
//!    `fdatasync`.
//!
//! A recorder killed at any point therefore leaves either the old file or
//! the new one, and the syncs order the steps for a power cut too.
//! [`CaptureWriter::finish`] commits the final footer (page indexes,
//! `sockrec.complete=true`) the same way. The one write that extends the
//! file is the guard's (a copy of a footer, kilobytes): a SIGKILL between
//! two of its pages could still cut it (the kernel checks for fatal signals
//! between pages in `generic_perform_write`, mm/filemap.c); that window is
//! microseconds, where writing over the footer in place was the whole
//! row-group write.
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
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

use crate::footer::FooterBuilder;
use crate::meta::CaptureMeta;
use crate::new_file::NewCapture;
use crate::row_group::RowGroupBuilder;
use crate::schema::{FORMAT_VERSION, capture_schema, col};

/// ZSTD level of the column chunks: 3 is zstd's default, a good
/// speed/ratio balance for a recorder that must keep up with the kernel.
const ZSTD_LEVEL: i32 = 3;

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
/// since the last flush (those of ended row groups too) and leaves the file
/// as of that flush (readable, `sockrec.complete=false`).
pub struct CaptureWriter {
    path: PathBuf,
    file: File,
    writer: ArrowWriter<Spool>,
    /// The row group being built.
    rows: RowGroupBuilder,
    meta: CaptureMeta,
    /// `ARROW:schema` metadata, so readers of a provisional footer get the
    /// exact Arrow types back (e.g. the `time` column's UTC zone).
    arrow_schema_kv: KeyValue,
    footer: FooterBuilder,
    rows_written: u64,
    /// Where the data placed in the file ends: the provisional footer
    /// starts here, and the next row group will too.
    committed: u64,
    /// The provisional footer at the end of the file (empty before the
    /// first flush and after finish).
    current_footer: Vec<u8>,
}

/// Where the `ArrowWriter` writes: memory, until [`CaptureWriter::commit`]
/// places the bytes in the file. The `ArrowWriter` counts the bytes it
/// writes and records row group offsets from that count, so the spool's
/// bytes always belong at `committed` in the file.
#[derive(Default)]
struct Spool(Vec<u8>);

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CaptureWriter {
    /// Creates the capture file at `path` and makes it a valid, empty
    /// capture right away: [`NewCapture::create`] then [`CaptureWriter::new`].
    ///
    /// Fails if the file exists, unless `force`, which replaces it.
    pub fn create(path: &Path, force: bool, meta: CaptureMeta) -> Result<Self> {
        CaptureWriter::new(NewCapture::create(path, force)?, meta)
    }

    /// Writes an empty capture into `new` and puts it in place: from here
    /// on the file at its path is a capture that any reader opens.
    ///
    /// `meta` may be another capture's, as [`crate::CaptureInfo`] read it:
    /// the footers carry its facts, in this crate's format version and
    /// with the writer's own `complete` (see [`CaptureMeta`]).
    pub fn new(new: NewCapture, meta: CaptureMeta) -> Result<Self> {
        let path = new.path().to_path_buf();
        let file = new
            .file()
            .try_clone()
            .with_context(|| format!("creating capture {}", path.display()))?;
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
        let writer = ArrowWriter::try_new_with_options(Spool::default(), schema.clone(), options)
            .with_context(|| format!("creating capture {}", path.display()))?;

        let mut w = CaptureWriter {
            path,
            file,
            writer,
            rows: RowGroupBuilder::new(meta.boot_time_ns),
            meta,
            arrow_schema_kv: KeyValue::new(
                ARROW_SCHEMA_META_KEY.to_string(),
                encode_arrow_schema(&schema),
            ),
            footer,
            rows_written: 0,
            committed: 0,
            current_footer: Vec::new(),
        };
        // A capture killed before its first flush is then an empty capture,
        // not a 4-byte file nothing can open.
        w.flush()?;
        new.place()?;
        Ok(w)
    }

    /// Buffers one event. `probe` names the attach point that produced it
    /// (the `probe` column), e.g. `tracepoint:syscalls:sys_exit_connect`.
    pub fn push(&mut self, ev: &SocketEvent, probe: &'static str) {
        self.rows.push(ev, probe);
    }

    /// Events buffered since the last flush.
    pub fn buffered_rows(&self) -> usize {
        self.rows.len()
    }

    /// Events in row groups so far (in the file, or waiting in memory for
    /// the next flush).
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }

    /// Ends the row group being built, if it has rows. Its encoding (a
    /// fraction of the rows' size in memory) waits for the next flush to
    /// reach the file: this bounds the memory of a busy recording without
    /// writing a footer, which grows with every row group, each time.
    pub fn end_row_group(&mut self) -> Result<()> {
        let ctx = || format!("writing capture {}", self.path.display());
        if !self.rows.is_empty() {
            // Kind by kind into one row group (row_group.rs).
            for batch in self.rows.finish(&self.meta.host)? {
                self.writer.write(&batch).with_context(ctx)?;
                self.rows_written += batch.num_rows() as u64;
            }
            self.writer.flush().with_context(ctx)?;
        }
        Ok(())
    }

    /// Bytes of ended row groups waiting for the next flush.
    pub fn spooled_bytes(&self) -> u64 {
        self.writer.bytes_written() as u64 - self.committed
    }

    /// Current size of the file (row groups and provisional footer).
    pub fn bytes_written(&self) -> u64 {
        self.committed + self.current_footer.len() as u64
    }

    /// The metadata the next footer will carry (its format version,
    /// `complete` and, before finish, `end_ns` are the writer's).
    pub fn meta(&self) -> &CaptureMeta {
        &self.meta
    }

    /// Changes the metadata the next footer will carry (`boot_time_ns` and
    /// `host` only affect the metadata, not rows already buffered).
    pub fn meta_mut(&mut self) -> &mut CaptureMeta {
        &mut self.meta
    }

    /// Writes the ended row groups, the buffered events as one more and a
    /// provisional footer:
    /// when this returns, the file on disk is a complete Parquet file with
    /// every event flushed so far, even if the process dies next (and it
    /// was one all along). Also refreshes the footer's metadata (lost
    /// counts, end time) when nothing is buffered.
    pub fn flush(&mut self) -> Result<()> {
        self.end_row_group()?;
        let footer = self.provisional_footer(now_ns())?;
        let path = self.path.clone();
        let ctx = || format!("writing capture {}", path.display());
        let data = self.take_spool().with_context(ctx)?;
        self.commit(&data, footer).with_context(ctx)
    }

    /// Flushes the last events, writes the final footer (with page indexes
    /// and `sockrec.complete=true`) and syncs the file.
    pub fn finish(mut self) -> Result<CaptureSummary> {
        self.end_row_group()?;
        let end_ns = match self.meta.end_ns {
            0 => now_ns(),
            t => t,
        };
        for kv in self.footer_meta(end_ns, true).to_key_values() {
            self.writer.append_key_value_metadata(kv);
        }
        let path = self.path.clone();
        let ctx = || format!("finishing capture {}", path.display());
        // The page indexes and the final footer, in the spool.
        self.writer.finish().with_context(ctx)?;
        let data = self.take_spool().with_context(ctx)?;
        self.commit(&data, Vec::new()).with_context(ctx)?;
        self.file.sync_all().with_context(ctx)?;
        Ok(CaptureSummary {
            rows: self.rows_written,
            bytes: self.committed,
        })
    }

    /// The bytes the `ArrowWriter` wrote since the last call, which belong
    /// at `committed` in the file.
    fn take_spool(&mut self) -> Result<Vec<u8>> {
        // Empties the `ArrowWriter`'s own buffer into the spool.
        self.writer.sync()?;
        let data = std::mem::take(&mut self.writer.inner_mut().0);
        // Row group offsets in the footer come from the writer's count:
        // check the spool lands exactly there rather than corrupt.
        let end = self.committed + data.len() as u64;
        if end != self.writer.bytes_written() as u64 {
            bail!(
                "spooled data would end at {end}, the Parquet writer counted {}",
                self.writer.bytes_written()
            );
        }
        Ok(data)
    }

    /// Places `data` at `committed` and `footer` after it, and makes that
    /// the end of the file, in the three steps of the module documentation:
    /// guard, write, cut.
    fn commit(&mut self, data: &[u8], footer: Vec<u8>) -> Result<()> {
        self.place_guard(data.len() + footer.len())?;
        self.write_over(data, &footer)?;
        self.cut(data.len(), footer)
    }

    /// Step 1: copies the current footer past `committed + len`, and past
    /// the file's end, so that the file keeps ending with it while the
    /// region it occupies is overwritten.
    fn place_guard(&self, len: usize) -> Result<()> {
        if self.current_footer.is_empty() {
            return Ok(());
        }
        let end = self.committed + self.current_footer.len() as u64;
        let at = end.max(self.committed + len as u64);
        self.file.write_all_at(&self.current_footer, at)?;
        self.file.sync_data()?;
        Ok(())
    }

    /// Step 2: writes the new data and footer at `committed`. The file's end
    /// is the guard, beyond them.
    fn write_over(&self, data: &[u8], footer: &[u8]) -> Result<()> {
        self.file.write_all_at(data, self.committed)?;
        self.file
            .write_all_at(footer, self.committed + data.len() as u64)?;
        self.file.sync_data()?;
        Ok(())
    }

    /// Step 3: ends the file right after the new footer.
    fn cut(&mut self, data_len: usize, footer: Vec<u8>) -> Result<()> {
        let committed = self.committed + data_len as u64;
        self.file.set_len(committed + footer.len() as u64)?;
        self.file.sync_data()?;
        self.committed = committed;
        self.current_footer = footer;
        Ok(())
    }

    /// Encodes a footer covering every row group written so far.
    fn provisional_footer(&mut self, end_ns: i64) -> Result<Vec<u8>> {
        let all = self.writer.flushed_row_groups();
        self.footer
            .add_row_groups(&all[self.footer.row_group_count()..])?;
        let mut kv = vec![self.arrow_schema_kv.clone()];
        kv.extend(self.footer_meta(end_ns, false).to_key_values());
        // No page indexes: the ArrowWriter keeps them private until finish.
        // Readers fall back to the row group statistics.
        self.footer.encode(kv, all)
    }

    /// The metadata of a footer written at `end_ns`: the caller's, in the
    /// format this crate writes, complete only in the final footer.
    fn footer_meta(&self, end_ns: i64, complete: bool) -> CaptureMeta {
        CaptureMeta {
            format_version: FORMAT_VERSION,
            end_ns,
            complete,
            ..self.meta.clone()
        }
    }

    #[cfg(test)]
    pub(crate) fn flushed_row_groups(&self) -> &[parquet::file::metadata::RowGroupMetaData] {
        self.writer.flushed_row_groups()
    }
}

/// Rows per data page at most (parquet-rs: 20 000 by default). Rows are
/// grouped by kind in each row group (row_group.rs), and a reader skips the
/// pages whose statistics rule them out: smaller pages leave fewer rows of
/// other kinds in the pages a query on calls must read. But the writer
/// keeps every page's index entry in memory until the file is finished, so
/// pages of 4 Ki rows, with page statistics on every column, took a 60 s
/// busy recording's peak RSS from 91 to 107 MiB (`cargo xtask bench
/// memory`); hence 8 Ki, and page statistics only where they prune.
const DATA_PAGE_ROWS: usize = 8 << 10;

/// The columns with statistics per page (in the page index) as well as per
/// row group: `kind` (its pages each hold one kind or a few) and the times
/// (time ranges). The other columns' pages mix values from all over the
/// row group, so their page statistics would rarely rule a page out.
const PAGE_STATISTICS: [&str; 3] = [col::KIND, col::TIME, col::TIME_NS];

/// The capture's Parquet settings: ZSTD, dictionaries for the repetitive
/// columns, delta-encoded times, statistics for pruning. Public so
/// that `cargo xtask bench` writes its captures with the very same.
pub fn writer_properties() -> Result<WriterProperties> {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        // Row groups are cut by the caller's flushes, never by size.
        .set_max_row_group_row_count(None)
        .set_data_page_row_count_limit(DATA_PAGE_ROWS);
    for c in PAGE_STATISTICS {
        b = b.set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::Page);
    }
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

    /// What a reader finds in the file: rows by the footer, and the rows of
    /// the `kind` column actually decoded (the row groups are intact).
    fn readable_rows(path: &Path) -> (u64, u64, bool) {
        let info = crate::CaptureInfo::open(path).unwrap();
        let decoded = info.events_per_kind().unwrap().iter().map(|(_, n)| n).sum();
        (info.rows, decoded, info.meta.complete)
    }

    /// A recorder killed between any two steps of a flush or of finish
    /// leaves a capture a reader opens, with every event of the flush
    /// before; after the last step, it has the new ones too.
    #[test]
    fn a_flush_cut_short_at_any_step_leaves_the_previous_capture() {
        use sockrec_common::EventKind;
        let path = temp_path("steps");
        let mut w = CaptureWriter::create(&path, true, meta()).unwrap();
        let push = |w: &mut CaptureWriter, n| {
            for _ in 0..n {
                w.push(&crate::batch::tests::event(EventKind::Connect), "p");
            }
        };
        push(&mut w, 1000);
        w.flush().unwrap();
        assert_eq!(readable_rows(&path), (1000, 1000, false));

        push(&mut w, 5000);
        w.end_row_group().unwrap();
        let footer = w.provisional_footer(now_ns()).unwrap();
        let data = w.take_spool().unwrap();
        w.place_guard(data.len() + footer.len()).unwrap();
        assert_eq!(readable_rows(&path), (1000, 1000, false), "after the guard");
        w.write_over(&data, &footer).unwrap();
        assert_eq!(readable_rows(&path), (1000, 1000, false), "after the write");
        w.cut(data.len(), footer).unwrap();
        assert_eq!(readable_rows(&path), (6000, 6000, false), "after the cut");
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(size, w.bytes_written(), "the file ends at the new footer");

        // A flush with nothing new, whose footer may be shorter than the
        // one it replaces (the guard then goes at the file's end).
        w.meta_mut().probes = String::new();
        w.flush().unwrap();
        assert_eq!(readable_rows(&path), (6000, 6000, false));

        push(&mut w, 10);
        let summary = w.finish().unwrap();
        assert_eq!(summary.rows, 6010);
        assert_eq!(summary.bytes, std::fs::metadata(&path).unwrap().len());
        assert_eq!(readable_rows(&path), (6010, 6010, true));
        std::fs::remove_file(&path).unwrap();
    }

    /// Ended row groups stay out of the file until the next flush, which
    /// puts them all in, in order.
    #[test]
    fn ended_row_groups_reach_the_file_at_the_next_flush() {
        use sockrec_common::EventKind;
        let path = temp_path("ended");
        let mut w = CaptureWriter::create(&path, true, meta()).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        for n in [300, 200] {
            for _ in 0..n {
                w.push(&crate::batch::tests::event(EventKind::Send), "p");
            }
            w.end_row_group().unwrap();
        }
        assert!(w.spooled_bytes() > 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        assert_eq!(readable_rows(&path), (0, 0, false));
        w.push(&crate::batch::tests::event(EventKind::Recv), "p");
        w.flush().unwrap();
        assert_eq!(w.spooled_bytes(), 0);
        assert_eq!(readable_rows(&path), (501, 501, false));
        let info = crate::CaptureInfo::open(&path).unwrap();
        assert_eq!(info.row_groups, 3);
        std::fs::remove_file(&path).unwrap();
    }
}
