//! [`DerivedCapture`]: a capture made from other captures' rows (`sockrec
//! slice`, `sockrec redact`), written as the recorder writes (its Parquet
//! settings, mode 0600, never over a file without `force`) in the source's
//! own schema, and at its path only once whole.

use std::fs::File;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;

use crate::meta::CaptureMeta;
use crate::new_file::NewCapture;
use crate::writer::writer_properties;

/// A capture being made from others' rows. Dropped before
/// [`DerivedCapture::finish`], it leaves nothing behind.
pub struct DerivedCapture {
    new: NewCapture,
    writer: ArrowWriter<File>,
    rows: u64,
}

impl DerivedCapture {
    /// Creates the capture at `path` (replacing a file there only with
    /// `force`), in `schema` (the sources'); `sources` are the files read,
    /// none of which may be `path`.
    pub fn create(
        path: &Path,
        force: bool,
        schema: SchemaRef,
        sources: &[&Path],
    ) -> Result<DerivedCapture> {
        if let Ok(out) = std::fs::canonicalize(path) {
            for source in sources {
                if std::fs::canonicalize(source).is_ok_and(|s| s == out) {
                    bail!(
                        "{}: is the output too: write into another file",
                        source.display()
                    );
                }
            }
        }
        let new = NewCapture::create(path, force)?;
        let ctx = || format!("creating capture {}", path.display());
        let file = new.file().try_clone().with_context(ctx)?;
        let writer =
            ArrowWriter::try_new(file, schema, Some(writer_properties()?)).with_context(ctx)?;
        Ok(DerivedCapture {
            new,
            writer,
            rows: 0,
        })
    }

    /// Writes `batch` (of the schema given to [`DerivedCapture::create`]).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .with_context(|| format!("writing capture {}", self.new.path().display()))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer with `meta`, syncs the file and puts it at its
    /// path; returns its size.
    pub fn finish(mut self, meta: &CaptureMeta) -> Result<u64> {
        let path = self.new.path().to_path_buf();
        let ctx = || format!("writing capture {}", path.display());
        for kv in meta.to_key_values() {
            self.writer.append_key_value_metadata(kv);
        }
        let file = self.writer.into_inner().with_context(ctx)?;
        file.sync_all().with_context(ctx)?;
        let bytes = file.metadata().with_context(ctx)?.len();
        self.new.place()?;
        Ok(bytes)
    }
}
