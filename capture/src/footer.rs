//! Provisional footers, encoded incrementally.
//!
//! Every flush ends the file with a footer listing *all* row groups so far.
//! Encoding that from scratch with parquet's `ParquetMetaDataWriter` costs
//! ~75 µs per row group, so a day of 5 s flushes (17k row groups) would spend
//! over a second per flush just re-encoding metadata that never changes.
//!
//! So each row group's Thrift encoding is made once, when it is flushed,
//! and a footer is assembled by splicing the cached encodings into a
//! "frame": the footer parquet encodes for zero row groups (schema,
//! key-value metadata, created_by, column orders). The splice only needs the
//! outer layout of the Thrift compact protocol (field headers, list headers,
//! how to skip a value), and a test checks it is byte-identical to what
//! `ParquetMetaDataWriter` produces. Should the frame ever not parse (a
//! future parquet encoding it differently), [`FooterBuilder::encode`] falls
//! back to the full encoding rather than fail a recording.

use anyhow::{Context, Result, bail, ensure};
use parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::schema::types::SchemaDescPtr;

/// `FileMetaData.num_rows` (Thrift field id).
const FIELD_NUM_ROWS: i16 = 3;
/// `FileMetaData.row_groups`.
const FIELD_ROW_GROUPS: i16 = 4;

/// Thrift compact protocol type ids (the ones that matter here).
const T_BOOL_TRUE: u8 = 1;
const T_BOOL_FALSE: u8 = 2;
const T_BYTE: u8 = 3;
const T_I16: u8 = 4;
const T_I32: u8 = 5;
const T_I64: u8 = 6;
const T_DOUBLE: u8 = 7;
const T_BINARY: u8 = 8;
const T_LIST: u8 = 9;
const T_SET: u8 = 10;
const T_MAP: u8 = 11;
const T_STRUCT: u8 = 12;

/// Builds footers for a file whose row groups only ever get appended.
pub(crate) struct FooterBuilder {
    schema: SchemaDescPtr,
    created_by: String,
    writer_version: i32,
    write_path_in_schema: bool,
    /// The Thrift encodings of the row groups added so far, back to back:
    /// exactly the elements of `FileMetaData.row_groups`.
    row_groups: Vec<u8>,
    row_group_count: usize,
    num_rows: i64,
}

impl FooterBuilder {
    pub(crate) fn new(
        schema: SchemaDescPtr,
        created_by: String,
        writer_version: i32,
        write_path_in_schema: bool,
    ) -> Self {
        FooterBuilder {
            schema,
            created_by,
            writer_version,
            write_path_in_schema,
            row_groups: Vec::new(),
            row_group_count: 0,
            num_rows: 0,
        }
    }

    /// How many row groups have been added.
    pub(crate) fn row_group_count(&self) -> usize {
        self.row_group_count
    }

    /// Caches the encoding of row groups flushed since the last call.
    pub(crate) fn add_row_groups(&mut self, new: &[RowGroupMetaData]) -> Result<()> {
        for rg in new {
            // A footer with this one row group and nothing optional: its
            // row_groups list is a one-element list we can lift out.
            let one = self.full_encoding(vec![rg.clone()], None)?;
            let fields = top_level_fields(footer_struct(&one)?)?;
            let list = fields
                .iter()
                .find(|f| f.id == FIELD_ROW_GROUPS)
                .context("encoded footer has no row_groups")?;
            let payload = &footer_struct(&one)?[list.payload.clone()];
            // One struct element: the short list header (size 1, type struct).
            ensure!(
                payload.first() == Some(&(1 << 4 | T_STRUCT)),
                "unexpected row_groups list header"
            );
            self.row_groups.extend_from_slice(&payload[1..]);
            self.row_group_count += 1;
            self.num_rows += rg.num_rows();
        }
        Ok(())
    }

    /// The footer (FileMetaData, its length, `PAR1`) for every row group
    /// added so far and this key-value metadata. `all` must be those row
    /// groups: it is only used if splicing fails.
    pub(crate) fn encode(&self, kv: Vec<KeyValue>, all: &[RowGroupMetaData]) -> Result<Vec<u8>> {
        match self.splice(kv.clone()) {
            Ok(footer) => Ok(footer),
            Err(_) => self.full_encoding(all.to_vec(), Some(kv)),
        }
    }

    fn splice(&self, kv: Vec<KeyValue>) -> Result<Vec<u8>> {
        let frame_footer = self.full_encoding(Vec::new(), Some(kv))?;
        let frame = footer_struct(&frame_footer)?;
        let fields = top_level_fields(frame)?;

        let mut out = Vec::with_capacity(frame.len() + self.row_groups.len() + 16);
        let mut copied = 0;
        let mut seen = (false, false);
        for f in &fields {
            match f.id {
                FIELD_NUM_ROWS => {
                    out.extend_from_slice(&frame[copied..f.payload.start]);
                    write_varint(&mut out, zigzag(self.num_rows));
                    seen.0 = true;
                }
                FIELD_ROW_GROUPS => {
                    out.extend_from_slice(&frame[copied..f.payload.start]);
                    write_list_header(&mut out, self.row_group_count, T_STRUCT);
                    out.extend_from_slice(&self.row_groups);
                    seen.1 = true;
                }
                _ => continue,
            }
            copied = f.payload.end;
        }
        ensure!(
            seen == (true, true),
            "footer frame lacks num_rows or row_groups"
        );
        out.extend_from_slice(&frame[copied..]);

        let len = u32::try_from(out.len()).context("footer over 4 GiB")?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(b"PAR1");
        Ok(out)
    }

    /// parquet's own encoding of a footer with these row groups.
    pub(crate) fn full_encoding(
        &self,
        row_groups: Vec<RowGroupMetaData>,
        kv: Option<Vec<KeyValue>>,
    ) -> Result<Vec<u8>> {
        let num_rows = row_groups.iter().map(|rg| rg.num_rows()).sum();
        let file_meta = FileMetaData::new(
            self.writer_version,
            num_rows,
            Some(self.created_by.clone()),
            kv,
            self.schema.clone(),
            // ParquetMetaDataWriter fills in the column orders.
            None,
        );
        let metadata = ParquetMetaData::new(file_meta, row_groups);
        let mut buf = Vec::new();
        ParquetMetaDataWriter::new(&mut buf, &metadata)
            .with_write_path_in_schema(self.write_path_in_schema)
            .finish()
            .context("encoding a capture footer")?;
        Ok(buf)
    }
}

/// The FileMetaData struct of a footer: without the length and magic.
fn footer_struct(footer: &[u8]) -> Result<&[u8]> {
    ensure!(
        footer.len() >= 8 && footer.ends_with(b"PAR1"),
        "not a footer"
    );
    let body = &footer[..footer.len() - 8];
    let len = u32::from_le_bytes(footer[footer.len() - 8..footer.len() - 4].try_into()?);
    ensure!(len as usize == body.len(), "footer length mismatch");
    Ok(body)
}

/// One field of a Thrift struct: its id and where its value lies.
struct Field {
    id: i16,
    payload: std::ops::Range<usize>,
}

/// The fields of the struct that `buf` holds exactly (up to its stop byte).
fn top_level_fields(buf: &[u8]) -> Result<Vec<Field>> {
    let mut c = Cursor { buf, pos: 0 };
    let mut fields = Vec::new();
    let mut last_id: i16 = 0;
    loop {
        let header = c.byte()?;
        if header == 0 {
            break;
        }
        let ty = header & 0x0f;
        let delta = header >> 4;
        let id = if delta == 0 {
            unzigzag(c.varint()?) as i16
        } else {
            last_id + i16::from(delta)
        };
        last_id = id;
        let start = c.pos;
        c.skip_value(ty)?;
        fields.push(Field {
            id,
            payload: start..c.pos,
        });
    }
    ensure!(c.pos == buf.len(), "trailing bytes after the footer struct");
    Ok(fields)
}

/// Reads just enough of the Thrift compact protocol to step over values.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).context("truncated thrift")?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> Result<()> {
        ensure!(self.buf.len() - self.pos >= n, "truncated thrift");
        self.pos += n;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bail!("varint too long")
    }

    /// Skips a value of type `ty` in field position (booleans have no
    /// payload there: the value is in the type).
    fn skip_value(&mut self, ty: u8) -> Result<()> {
        match ty {
            T_BOOL_TRUE | T_BOOL_FALSE => Ok(()),
            _ => self.skip_element(ty),
        }
    }

    /// Skips a value of type `ty` as a list, set or map element (booleans
    /// take one byte there).
    fn skip_element(&mut self, ty: u8) -> Result<()> {
        match ty {
            T_BOOL_TRUE | T_BOOL_FALSE | T_BYTE => self.skip(1),
            T_I16 | T_I32 | T_I64 => self.varint().map(drop),
            T_DOUBLE => self.skip(8),
            T_BINARY => {
                let n = usize::try_from(self.varint()?)?;
                self.skip(n)
            }
            T_LIST | T_SET => {
                let header = self.byte()?;
                let elem = header & 0x0f;
                let n = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                (0..n).try_for_each(|_| self.skip_element(elem))
            }
            T_MAP => {
                let n = self.varint()?;
                if n > 0 {
                    let types = self.byte()?;
                    for _ in 0..n {
                        self.skip_element(types >> 4)?;
                        self.skip_element(types & 0x0f)?;
                    }
                }
                Ok(())
            }
            T_STRUCT => loop {
                let header = self.byte()?;
                if header == 0 {
                    return Ok(());
                }
                if header >> 4 == 0 {
                    self.varint()?; // long-form field id
                }
                self.skip_value(header & 0x0f)?;
            },
            _ => bail!("unknown thrift type {ty}"),
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A compact-protocol list header, short form below 15 elements.
fn write_list_header(out: &mut Vec<u8>, n: usize, elem: u8) {
    if n < 15 {
        out.push((n as u8) << 4 | elem);
    } else {
        out.push(0xf0 | elem);
        write_varint(out, n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::event;
    use crate::writer::tests::{meta, temp_path};
    use crate::{CaptureWriter, capture_schema};
    use parquet::arrow::ArrowSchemaConverter;
    use sockrec_common::EventKind;
    use std::sync::Arc;

    #[test]
    fn varints_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, 1 << 40, i64::MAX, i64::MIN] {
            let mut buf = Vec::new();
            write_varint(&mut buf, zigzag(v));
            let mut c = Cursor { buf: &buf, pos: 0 };
            assert_eq!(unzigzag(c.varint().unwrap()), v);
            assert_eq!(c.pos, buf.len());
        }
    }

    /// The spliced footer is exactly what parquet would have encoded, for
    /// short and long (>= 15) row group lists and growing row counts.
    #[test]
    fn splice_matches_the_full_encoding() {
        let path = temp_path("splice");
        let mut w = CaptureWriter::create(&path, true, meta()).unwrap();
        let kv = vec![
            KeyValue::new("a".to_string(), "b".to_string()),
            KeyValue::new("c".to_string(), None),
        ];
        let schema = ArrowSchemaConverter::new()
            .convert(&capture_schema())
            .unwrap();
        let mut fb = FooterBuilder::new(Arc::new(schema), "me".to_string(), 1, true);
        for round in 0..20 {
            for _ in 0..round * 37 + 1 {
                w.push(&event(EventKind::Connect), "p");
            }
            w.flush().unwrap();
            let all = w.flushed_row_groups().to_vec();
            fb.add_row_groups(&all[fb.row_group_count()..]).unwrap();
            assert_eq!(fb.row_group_count(), all.len());
            let spliced = fb.splice(kv.clone()).unwrap();
            let full = fb.full_encoding(all, Some(kv.clone())).unwrap();
            assert!(spliced == full, "round {round}");
        }
        drop(w);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn top_level_fields_rejects_garbage() {
        assert!(top_level_fields(&[0x15]).is_err());
        assert!(top_level_fields(&[0x1c, 0x00, 0x00, 0x00]).is_err());
        assert!(top_level_fields(&[0x0d]).is_err()); // long-form id, truncated
        assert!(footer_struct(b"PAR1").is_err());
    }
}
