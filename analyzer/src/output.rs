//! Query results for people and for scripts: `table` (arrow's pretty
//! table), `csv` (with a header line) and `json` (one array of objects,
//! one per line, NULLs written out). The built-in reports' own `tool` format, which
//! looks like the BPF tool's output, is in [`crate::reports`].

use std::io::Write;

use anyhow::{Result, bail};
use arrow_array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::arrow::{csv, json};

use crate::session::QueryResult;

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

impl Format {
    pub const NAMES: [&'static str; 4] = ["tool", "table", "csv", "json"];

    pub fn parse(name: &str) -> Result<Format> {
        Ok(match name {
            "tool" => Format::Tool,
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            other => bail!("unknown format {other:?} (tool, table, csv or json)"),
        })
    }
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
        Format::Table => {
            let table = pretty_format_batches_with_schema(result.schema.clone(), batches)?;
            writeln!(out, "{table}")?;
        }
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
