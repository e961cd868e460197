//! [`CaptureInfo`]: what `sockrec info` shows about a capture, read from the
//! Parquet footer without scanning the events (except the `kind` column for
//! [`CaptureInfo::events_per_kind`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::Array as _;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_schema::Schema;
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ProjectionMask, parquet_to_arrow_schema};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use sockrec_common::EventKind;

use crate::location::Location;
use crate::meta::CaptureMeta;
use crate::schema::col;

/// Parquet's magic, at both ends of every Parquet file.
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// The footer of a capture: its recording facts, and what the file itself
/// tells (size, rows, row groups, Parquet footer, Arrow schema).
#[derive(Clone, Debug)]
pub struct CaptureInfo {
    pub location: Location,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// The `sockrec.*` metadata (what a writer of a copy would be given).
    pub meta: CaptureMeta,
    /// Events in the file.
    pub rows: u64,
    pub row_groups: usize,
    metadata: Arc<ParquetMetaData>,
    arrow_schema: Schema,
}

impl CaptureInfo {
    /// Reads the footer of the capture at `path`. Errors are one line that
    /// starts with the path.
    pub fn open(path: &Path) -> Result<CaptureInfo> {
        let shown = path.display();
        let mut file = File::open(path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => anyhow!("{shown}: no such file"),
            _ => anyhow!("{shown}: {e}"),
        })?;
        let stat = file.metadata().map_err(|e| anyhow!("{shown}: {e}"))?;
        if stat.is_dir() {
            bail!("{shown}: is a directory");
        }
        let file_size = stat.len();
        check_magic(&mut file).map_err(|e| anyhow!("{shown}: {e}"))?;
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            // Right magic but no readable footer: most likely a recorder
            // that died in the middle of a flush.
            .map_err(|e| anyhow!("{shown}: damaged Parquet file (no valid footer: {e})"))?;
        CaptureInfo::from_metadata(path.into(), file_size, metadata)
    }

    /// How many bytes from the end of a file of `file_size` bytes hold its
    /// footer, given at least its last 8 (`tail`): the Parquet footer's
    /// length and magic. A store's object is read by its tail, so this
    /// says how much to fetch. Errors name no location (the caller's).
    pub fn footer_len(tail: &[u8], file_size: u64) -> Result<u64> {
        let Some(end) = tail.len().checked_sub(8).map(|at| &tail[at..]) else {
            bail!("not a Parquet file (only {file_size} bytes)");
        };
        if &end[4..] != PARQUET_MAGIC {
            bail!("not a Parquet file");
        }
        let len = u64::from(u32::from_le_bytes([end[0], end[1], end[2], end[3]])) + 8;
        if len > file_size {
            bail!("damaged Parquet file (a footer of {len} bytes in {file_size})");
        }
        Ok(len)
    }

    /// Reads the footer of the capture at `location` (an object in a store)
    /// from `tail`, the last bytes of its `file_size`, at least
    /// [`CaptureInfo::footer_len`] of them. The same checks as
    /// [`CaptureInfo::open`], with the same one-line errors.
    pub fn from_tail(location: Location, file_size: u64, tail: Bytes) -> Result<CaptureInfo> {
        let len =
            CaptureInfo::footer_len(&tail, file_size).map_err(|e| anyhow!("{location}: {e}"))?;
        if (tail.len() as u64) < len {
            bail!(
                "{location}: {} bytes of its end are not its {len}-byte footer",
                tail.len()
            );
        }
        let mut reader = ParquetMetaDataReader::new();
        let metadata = reader
            .try_parse_sized(&tail, file_size)
            .and_then(|()| reader.finish())
            .map_err(|e| anyhow!("{location}: damaged Parquet file (no valid footer: {e})"))?;
        CaptureInfo::from_metadata(location, file_size, metadata)
    }

    /// What every capture's footer must pass, wherever the file is.
    fn from_metadata(
        location: Location,
        file_size: u64,
        metadata: ParquetMetaData,
    ) -> Result<CaptureInfo> {
        check_column_chunks(&metadata, file_size)
            .map_err(|e| anyhow!("{location}: damaged Parquet file ({e})"))?;
        let arrow_schema = arrow_schema_of(&metadata)
            .map_err(|e| anyhow!("{location}: damaged Parquet file (unreadable schema: {e})"))?;

        let kvs = metadata.file_metadata().key_value_metadata();
        let meta = CaptureMeta::from_key_values(kvs.map_or(&[], Vec::as_slice))
            .map_err(|e| anyhow!("{location}: {e}"))?;

        Ok(CaptureInfo {
            location,
            file_size,
            meta,
            rows: u64::try_from(metadata.file_metadata().num_rows()).unwrap_or(0),
            row_groups: metadata.num_row_groups(),
            metadata: Arc::new(metadata),
            arrow_schema,
        })
    }

    /// The file's columns as Arrow reads them (from its `ARROW:schema`
    /// metadata, else from the Parquet schema), as decoded by
    /// [`CaptureInfo::open`].
    pub fn arrow_schema(&self) -> &Schema {
        &self.arrow_schema
    }

    /// The file's footer, as read by [`CaptureInfo::open`] (without page
    /// indexes).
    pub fn metadata(&self) -> &ParquetMetaData {
        &self.metadata
    }

    /// Events per `kind`, counted from the `kind` column alone. Kinds are in
    /// wire order (socket, socketpair, bind, ...), then any unknown names in
    /// alphabetical order; kinds with no events are left out.
    /// Reads local files only (`sockrec info`).
    pub fn events_per_kind(&self) -> Result<Vec<(String, u64)>> {
        let shown = &self.location;
        let Some(path) = self.location.file() else {
            bail!("{shown}: events per kind are counted in local captures only");
        };
        let file = File::open(path).map_err(|e| anyhow!("{shown}: {e}"))?;
        let meta = ArrowReaderMetadata::try_new(self.metadata.clone(), ArrowReaderOptions::new())
            .map_err(|e| anyhow!("{shown}: {e}"))?;
        let mask = ProjectionMask::columns(meta.parquet_schema(), [col::KIND]);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta)
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| anyhow!("{shown}: {e}"))?;

        // Pages are decoded here: a malformed one can panic in parquet-rs.
        let mut counts = crate::panic::quietly(|| count_kinds(reader, &shown.to_string()))
            .map_err(|why| {
                anyhow!("{shown}: damaged Parquet file (reading the kind column: {why})")
            })??;
        let mut out = Vec::with_capacity(counts.len());
        for kind in EventKind::ALL {
            if let Some(n) = counts.remove(kind.name()) {
                out.push((kind.name().to_string(), n));
            }
        }
        out.extend(counts);
        Ok(out)
    }
}

/// Events per `kind` value, from a reader of the `kind` column alone.
fn count_kinds(
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    shown: &str,
) -> Result<BTreeMap<String, u64>> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| anyhow!("{shown}: reading the kind column: {e}"))?;
        let column = batch.column_by_name(col::KIND);
        let no_column = || anyhow!("{shown}: no string column {:?}", col::KIND);
        // A dictionary (captures since the column became one), or plain
        // strings (older captures).
        let (kinds, keys) = match column.and_then(|c| c.as_dictionary_opt::<Int32Type>()) {
            Some(d) => (d.values().as_string_opt::<i32>(), Some(d.keys())),
            None => (column.and_then(|c| c.as_string_opt::<i32>()), None),
        };
        let kinds = kinds.ok_or_else(no_column)?;
        let mut add = |kind: &str, n: u64| {
            // Look up before inserting: allocates only once per kind.
            match counts.get_mut(kind) {
                Some(c) => *c += n,
                None => {
                    counts.insert(kind.to_string(), n);
                }
            }
        };
        match keys {
            Some(keys) => {
                let mut per_key = vec![0u64; kinds.len()];
                for k in keys.iter().flatten() {
                    if let Some(c) = per_key.get_mut(k as usize) {
                        *c += 1;
                    }
                }
                for (k, n) in per_key.into_iter().enumerate() {
                    if n > 0 {
                        add(kinds.value(k), n);
                    }
                }
            }
            None => kinds.iter().flatten().for_each(|kind| add(kind, 1)),
        }
    }
    Ok(counts)
}

/// Every column chunk the footer names lies inside the file. parquet-rs
/// asserts that a chunk's start and length are not negative only when it
/// reads the chunk (`ColumnChunkMetaData::byte_range`, a panic found by the
/// fuzz target), and a length beyond the file would be a read (and an
/// allocation) of whatever size the footer claims.
fn check_column_chunks(metadata: &ParquetMetaData, file_size: u64) -> Result<()> {
    for (i, row_group) in metadata.row_groups().iter().enumerate() {
        for column in row_group.columns() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            let len = column.compressed_size();
            let inside = u64::try_from(start)
                .ok()
                .zip(u64::try_from(len).ok())
                .and_then(|(start, len)| start.checked_add(len))
                .is_some_and(|end| end <= file_size);
            if !inside {
                bail!(
                    "column {} of row group {i} claims bytes {start}..+{len}, outside the file's {file_size}",
                    column.column_path()
                );
            }
        }
    }
    Ok(())
}

/// The Arrow schema of a footer, or why it has none. parquet-rs decodes the
/// embedded `ARROW:schema` with arrow-ipc, which panics on some malformed
/// ones instead of returning an error (found by the fuzz target: arrow-ipc
/// 59 `convert.rs` `get_data_type`, "Int type with bit width of 24608 and
/// signed of true not supported"). Every later reader of the file (the
/// kind counts, `sockrec query`'s schema check, DataFusion) decodes the same
/// bytes the same way, so a footer that passes here passes there.
fn arrow_schema_of(metadata: &ParquetMetaData) -> Result<Schema> {
    let fm = metadata.file_metadata();
    let decode = || parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata());
    match crate::panic::quietly(decode) {
        Ok(schema) => Ok(schema?),
        Err(why) => bail!("{why}"),
    }
}

/// Distinguishes "not Parquet at all" from a damaged Parquet file, whose
/// footer error would otherwise be cryptic.
fn check_magic(file: &mut File) -> Result<()> {
    let mut head = [0u8; 4];
    let is_parquet = match file.read_exact(&mut head) {
        Ok(()) => &head == PARQUET_MAGIC,
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(e.into()),
    };
    if !is_parquet {
        bail!("not a Parquet file");
    }
    file.seek(SeekFrom::Start(0)).context("seeking")?;
    Ok(())
}
