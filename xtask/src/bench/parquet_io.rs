//! Rewriting captures, with parquet-rs (the library sockrec writes them
//! with, same version): under other writer settings for the size part, and
//! repeated with shifted times into the query part's 10M-event capture.
//!
//! Going through the same library means a variant's size is what the
//! recorder would get by changing its `writer_properties()` the same way.

use anyhow::{Context as _, Result, bail};
use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray,
    cast::AsArray as _,
    types::{Int32Type, TimestampNanosecondType, UInt64Type},
};
use arrow_schema::{DataType, Schema, SchemaRef};
use parquet::{
    arrow::{ArrowWriter, arrow_reader::ParquetRecordBatchReaderBuilder},
    file::{metadata::KeyValue, properties::WriterPropertiesBuilder},
};
use std::{collections::HashMap, fs::File, path::Path, sync::Arc};

/// Columns whose values are nearly all distinct (the recorder turns their
/// dictionaries off).
pub const DISTINCT_COLUMNS: [&str; 3] = ["time", "time_ns", "latency_ns"];

/// The recorder's writer settings (`sockrec_capture::writer_properties`),
/// with row groups cut at `row_group_rows` (the recorder cuts its own).
pub fn recorder_props(row_group_rows: Option<usize>) -> WriterPropertiesBuilder {
    sockrec_capture::writer_properties()
        .expect("the capture's writer settings are valid")
        .into_builder()
        .set_max_row_group_row_count(row_group_rows)
}

/// The capture's key-value metadata (`sockrec.*`), without the Arrow schema
/// (the writer stores its own).
fn key_values(builder_kv: Option<&Vec<KeyValue>>) -> Vec<KeyValue> {
    builder_kv
        .map(|kv| {
            kv.iter()
                .filter(|k| k.key != "ARROW:schema")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The schema without the metadata the reader copies into it (sockrec
/// writes a schema without any; the key-values are stored on their own).
fn bare(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(schema.fields().clone()))
}

/// Writes `src`'s rows to `dst` with `props` (plus `src`'s key-value
/// metadata); returns `dst`'s size in bytes.
pub fn rewrite(src: &Path, dst: &Path, props: WriterPropertiesBuilder) -> Result<u64> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(src)?)?;
    let kv = key_values(builder.metadata().file_metadata().key_value_metadata());
    let schema = bare(builder.schema());
    let reader = builder.with_batch_size(64 * 1024).build()?;
    let props = props.set_key_value_metadata(Some(kv)).build();
    let mut w = ArrowWriter::try_new(File::create(dst)?, schema.clone(), Some(props))?;
    for batch in reader {
        w.write(&RecordBatch::try_new(
            schema.clone(),
            batch?.columns().to_vec(),
        )?)?;
    }
    w.close()?;
    Ok(std::fs::metadata(dst)?.len())
}

/// Rows in a Parquet file (from its footer).
pub fn rows(path: &Path) -> Result<u64> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    Ok(builder.metadata().file_metadata().num_rows() as u64)
}

/// Compressed bytes per column, summed over row groups, largest first.
pub fn column_sizes(path: &Path) -> Result<Vec<(String, u64)>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let mut sizes: HashMap<String, u64> = HashMap::new();
    for rg in builder.metadata().row_groups() {
        for c in rg.columns() {
            *sizes.entry(c.column_path().string()).or_default() += c.compressed_size() as u64;
        }
    }
    let mut v: Vec<_> = sizes.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(v)
}

/// Writes `src`'s rows again and again into `dst` until it holds at least
/// `min_rows`, each copy's `time`/`time_ns` shifted past the previous
/// copy's end (so the result reads as one long recording), with the
/// recorder's writer settings, `src`'s row groups as they are (the
/// recorder's size, rows grouped by kind), and `src`'s metadata, its
/// `sockrec.end_ns` moved to the new end. Returns the rows written.
pub fn repeat(src: &Path, dst: &Path, min_rows: u64) -> Result<u64> {
    repeat_as(src, dst, min_rows, None)
}

/// Another host's capture: [`repeat`], with `host` = (name, ns) the
/// recorder's host name (`host` column, `sockrec.host`) and every time
/// `ns` later, so that several such captures read as one fleet's.
pub fn repeat_as(src: &Path, dst: &Path, min_rows: u64, host: Option<(&str, u64)>) -> Result<u64> {
    let src_rows = rows(src)?;
    if src_rows == 0 {
        bail!("{} holds no events", src.display());
    }
    let copies = min_rows.div_ceil(src_rows);
    // The span to shift by: from the first to the last time_ns, plus 1 s.
    let (lo, hi) = time_ns_range(src)?;
    let shift = hi - lo + 1_000_000_000;

    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(src)?)?;
    let row_groups: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows() as usize)
        .collect();
    let mut kv = key_values(builder.metadata().file_metadata().key_value_metadata());
    for k in &mut kv {
        if k.key == "sockrec.end_ns"
            && let Some(end) = k.value.as_deref().and_then(|v| v.parse::<i64>().ok())
        {
            k.value = Some((end + (shift * (copies - 1)) as i64).to_string());
        }
        if let Some((name, _)) = host
            && k.key == "sockrec.host"
        {
            k.value = Some(name.to_string());
        }
    }
    let host_column = host.map(|(name, _)| name);
    let late = host.map_or(0, |(_, ns)| ns);
    let schema = bare(builder.schema());
    let time = schema.index_of("time")?;
    let time_ns = schema.index_of("time_ns")?;
    let tz = match schema.field(time).data_type() {
        DataType::Timestamp(_, tz) => tz.clone(),
        other => bail!("unexpected type of time: {other}"),
    };
    // Row groups are cut below, one per source row group.
    let props = recorder_props(None)
        .set_key_value_metadata(Some(kv))
        .build();
    let mut w = ArrowWriter::try_new(File::create(dst)?, schema.clone(), Some(props))?;
    let host_index = match host {
        Some(_) => schema.index_of("host")?,
        None => 0,
    };
    for copy in 0..copies {
        let off = shift * copy + late;
        for (i, &n) in row_groups.iter().enumerate() {
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(src)?)?
                .with_row_groups(vec![i])
                .with_batch_size(n.max(1))
                .build()?;
            for batch in reader {
                let batch = batch?;
                let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
                cols[time] = Arc::new(
                    cols[time]
                        .as_primitive::<TimestampNanosecondType>()
                        .unary::<_, TimestampNanosecondType>(|t| t + off as i64)
                        .with_timezone_opt(tz.clone()),
                );
                cols[time_ns] = Arc::new(
                    cols[time_ns]
                        .as_primitive::<UInt64Type>()
                        .unary::<_, UInt64Type>(|t| t + off),
                );
                if let Some(name) = host_column {
                    let keys = Int32Array::from(vec![0; batch.num_rows()]);
                    let values: ArrayRef = Arc::new(StringArray::from(vec![name]));
                    cols[host_index] =
                        Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values)?);
                }
                w.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
            }
            w.flush()?;
        }
    }
    w.close()?;
    Ok(src_rows * copies)
}

/// Smallest and largest `time_ns`, from the row groups' statistics.
fn time_ns_range(path: &Path) -> Result<(u64, u64)> {
    use parquet::file::statistics::Statistics;
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let meta = builder.metadata();
    let idx = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "time_ns")
        .context("no time_ns column")?;
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for rg in meta.row_groups() {
        match rg.column(idx).statistics() {
            Some(Statistics::Int64(s)) => {
                if let (Some(&a), Some(&b)) = (s.min_opt(), s.max_opt()) {
                    lo = lo.min(a as u64);
                    hi = hi.max(b as u64);
                }
            }
            _ => bail!("time_ns has no statistics in {}", path.display()),
        }
    }
    if lo > hi {
        bail!("time_ns has no statistics in {}", path.display());
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{StringArray, TimestampNanosecondArray, UInt64Array};
    use arrow_schema::{Field, TimeUnit};

    /// A small capture-like file: `time`, `time_ns`, `kind`, and metadata.
    fn write_small(path: &Path, rows: u64) -> SchemaRef {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("time_ns", DataType::UInt64, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new(
                "host",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                false,
            ),
        ]));
        let boot = 1_000_000_000_000i64;
        let ns: Vec<u64> = (0..rows).map(|i| 5_000 + i * 10).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(
                    TimestampNanosecondArray::from(
                        ns.iter().map(|&t| boot + t as i64).collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
                Arc::new(UInt64Array::from(ns.clone())),
                Arc::new(StringArray::from(vec!["send"; rows as usize])),
                Arc::new(
                    DictionaryArray::<Int32Type>::try_new(
                        Int32Array::from(vec![0; rows as usize]),
                        Arc::new(StringArray::from(vec!["web-1"])),
                    )
                    .unwrap(),
                ),
            ],
        )
        .unwrap();
        let kv = vec![
            KeyValue::new("sockrec.format_version".into(), "1".to_string()),
            KeyValue::new("sockrec.end_ns".into(), "7000".to_string()),
            KeyValue::new("sockrec.host".into(), "web-1".to_string()),
        ];
        let props = recorder_props(None)
            .set_key_value_metadata(Some(kv))
            .build();
        let mut w =
            ArrowWriter::try_new(File::create(path).unwrap(), schema.clone(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        schema
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("xtask-bench-{}-{name}", std::process::id()))
    }

    fn read_all(path: &Path) -> (Vec<RecordBatch>, Vec<KeyValue>) {
        let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
        let kv = b
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        (b.build().unwrap().map(|r| r.unwrap()).collect(), kv)
    }

    #[test]
    fn repeat_shifts_each_copy_past_the_last_and_keeps_metadata() {
        let (src, dst) = (scratch("repeat-src.parquet"), scratch("repeat-dst.parquet"));
        write_small(&src, 10);
        // 10 rows, at least 25 wanted: 3 copies.
        assert_eq!(repeat(&src, &dst, 25).unwrap(), 30);
        let (batches, kv) = read_all(&dst);
        let ns: Vec<u64> = batches
            .iter()
            .flat_map(|b| b["time_ns"].as_primitive::<UInt64Type>().values().to_vec())
            .collect();
        let time: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b["time"]
                    .as_primitive::<TimestampNanosecondType>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ns.len(), 30);
        // Each copy of the source's one row group is a row group.
        let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&dst).unwrap()).unwrap();
        assert_eq!(b.metadata().num_row_groups(), 3);
        // The span is 90 ns; each copy moves by it plus 1 s.
        let shift = 90 + 1_000_000_000;
        assert_eq!(ns[10], ns[0] + shift);
        assert_eq!(ns[29], ns[9] + 2 * shift);
        assert!(ns.windows(2).all(|w| w[0] < w[1]));
        // `time` moves with `time_ns` and keeps its time zone.
        assert!(
            time.iter()
                .zip(&ns)
                .all(|(t, n)| *t - *n as i64 == 1_000_000_000_000)
        );
        assert!(matches!(
            batches[0].schema().field(0).data_type(),
            DataType::Timestamp(_, Some(tz)) if tz.as_ref() == "UTC"
        ));
        let get = |k: &str| kv.iter().find(|x| x.key == k).and_then(|x| x.value.clone());
        assert_eq!(get("sockrec.format_version").as_deref(), Some("1"));
        assert_eq!(get("sockrec.end_ns"), Some((7000 + 2 * shift).to_string()));
        let _ = std::fs::remove_file(&src);
        let _ = std::fs::remove_file(&dst);
    }

    #[test]
    fn repeat_as_another_host_renames_it_and_shifts_its_times() {
        let (src, dst) = (scratch("as-src.parquet"), scratch("as-dst.parquet"));
        write_small(&src, 10);
        assert_eq!(repeat_as(&src, &dst, 10, Some(("db-2", 500))).unwrap(), 10);
        let (batches, kv) = read_all(&dst);
        let b = &batches[0];
        let hosts = b["host"].as_dictionary::<Int32Type>();
        let names = hosts.values().as_string::<i32>();
        assert!(
            hosts
                .keys()
                .iter()
                .all(|k| names.value(k.unwrap() as usize) == "db-2")
        );
        assert_eq!(b["time_ns"].as_primitive::<UInt64Type>().value(0), 5_500);
        let get = |k: &str| kv.iter().find(|x| x.key == k).and_then(|x| x.value.clone());
        assert_eq!(get("sockrec.host").as_deref(), Some("db-2"));
        let _ = std::fs::remove_file(&src);
        let _ = std::fs::remove_file(&dst);
    }

    #[test]
    fn rewrite_keeps_rows_and_metadata_under_other_settings() {
        let (src, dst) = (
            scratch("rewrite-src.parquet"),
            scratch("rewrite-dst.parquet"),
        );
        write_small(&src, 1000);
        let props = recorder_props(Some(100)).set_column_encoding(
            parquet::schema::types::ColumnPath::from("time_ns"),
            parquet::basic::Encoding::PLAIN,
        );
        let bytes = rewrite(&src, &dst, props).unwrap();
        assert_eq!(bytes, std::fs::metadata(&dst).unwrap().len());
        assert_eq!(rows(&dst).unwrap(), 1000);
        let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&dst).unwrap()).unwrap();
        assert_eq!(b.metadata().num_row_groups(), 10);
        let (_, kv) = read_all(&dst);
        assert!(kv.iter().any(|k| k.key == "sockrec.format_version"));
        // Column sizes cover every column, largest first.
        let cols = column_sizes(&dst).unwrap();
        assert_eq!(cols.len(), 4);
        assert!(cols.windows(2).all(|w| w[0].1 >= w[1].1));
        let _ = std::fs::remove_file(&src);
        let _ = std::fs::remove_file(&dst);
    }
}
