//! Query results for people and for scripts: `table` (arrow's pretty
//! table, every cell [escaped](sockrec_capture::terminal::escape) for the terminal),
//! `csv` (with a header line) and `json` (one array of objects, one per
//! line, NULLs written out), both with exact values. The built-in reports'
//! own `tool` format, which looks like the BPF tool's output, is in
//! [`crate::reports`].

use std::io::Write;

use anyhow::{Result, bail};
use arrow_array::RecordBatch;
use comfy_table::{Cell, Table};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::{csv, json};

use crate::session::QueryResult;
use sockrec_capture::terminal::escape;

/// How to print a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A built-in report as its BPF tool prints it.
    Tool,
    /// A text table with a header (the default for other SQL).
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of objects, one per row.
    Json,
}

/// Writes `result` as a table, CSV or JSON (not [`Format::Tool`], which
/// needs the report's renderer).
pub fn write(result: &QueryResult, format: Format, out: &mut dyn Write) -> Result<()> {
    // Writers that only print a header once they see a batch get an empty
    // one, so a query with no rows still says what its columns are.
    let empty;
    let batches: &[RecordBatch] = if result.batches.is_empty() {
        empty = [RecordBatch::new_empty(result.schema.clone())];
        &empty
    } else {
        &result.batches
    };
    match format {
        Format::Tool => bail!("the tool format is only for the built-in reports"),
        Format::Table => writeln!(out, "{}", table(result, batches)?)?,
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().with_header(true).build(&mut *out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            // One object per line inside the array: valid JSON that still
            // diffs and greps line by line.
            let mut lines = Vec::new();
            let mut w = json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, json::writer::LineDelimited>(&mut lines);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            let text = String::from_utf8(lines)?;
            let objects: Vec<&str> = text.lines().collect();
            if objects.is_empty() {
                writeln!(out, "[]")?;
            } else {
                writeln!(out, "[\n{}\n]", objects.join(",\n"))?;
            }
        }
    }
    Ok(())
}

/// arrow's pretty table (`pretty_format_batches_with_schema`: the same
/// preset and cell formatting), with each header and cell escaped for the
/// terminal.
fn table(result: &QueryResult, batches: &[RecordBatch]) -> Result<Table> {
    let options = FormatOptions::default().with_display_error(true);
    let mut table = Table::new();
    table.load_preset("||--+-++|    ++++++");
    table.set_header(
        result
            .schema
            .fields()
            .iter()
            .map(|f| Cell::new(escape(f.name()))),
    );
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            table.add_row(
                formatters
                    .iter()
                    .map(|f| Cell::new(escape(&f.value(row).to_string()))),
            );
        }
    }
    Ok(table)
}
