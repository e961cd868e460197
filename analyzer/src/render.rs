//! The tool format of most reports, declared rather than written out:
//!
//! - [`Table`]: a `printf` table (a header line, then one line per row), as
//!   tcplife, tcpstates, tcpconnect... print;
//! - [`Hists`]: bpftrace `hist()` maps, drawn exactly as bpftrace draws them
//!   (socksize, soconnlat, so1stbyte);
//! - [`Maps`]: bpftrace count maps, `@name[keys]: count` (socketio).
//!
//! Each reads its report's columns by name. When the rows come from several
//! hosts (a `host` column with more than one value), the host is shown too:
//! a first HOST column in a table, a first key in a map, since PIDs and
//! addresses mean something per host.

use std::io::Write;

use anyhow::Result;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::reports::{column, rows, write_maps};
use crate::session::QueryResult;
use sockrec_capture::terminal::escape;

/// One column of a [`Table`].
pub struct Col {
    /// Its heading.
    pub head: &'static str,
    /// The result column it shows; `a:b` shows two joined by a `:`
    /// (`laddr:lport`), `=TEXT` shows TEXT on every line (tcpstates' `->`).
    pub name: &'static str,
    /// The original's printf width: the column is as wide as this or as its
    /// longest value (printf would let a longer value push the rest of its
    /// line right; here the columns after it stay aligned).
    pub width: usize,
    /// `%5d` rather than `%-5d`.
    pub right: bool,
    /// `%-10.10s`: at most this many characters (0: no limit).
    pub max: usize,
    /// `%.3f`: floats with this many decimals.
    pub decimals: Option<usize>,
}

impl Col {
    /// `%-WIDTHs`
    pub const fn l(head: &'static str, name: &'static str, width: usize) -> Col {
        Col {
            head,
            name,
            width,
            right: false,
            max: 0,
            decimals: None,
        }
    }

    /// `%WIDTHs`
    pub const fn r(head: &'static str, name: &'static str, width: usize) -> Col {
        Col {
            right: true,
            ..Col::l(head, name, width)
        }
    }

    /// `%-W.MAXs`
    pub const fn max(self, max: usize) -> Col {
        Col { max, ..self }
    }

    /// `%.Nf`
    pub const fn decimals(self, n: usize) -> Col {
        Col {
            decimals: Some(n),
            ..self
        }
    }
}

/// A printf table: `banner` lines, a heading line, a line per row. Empty
/// values (NULL) show as `-`.
pub struct Table {
    pub banner: &'static [&'static str],
    pub cols: &'static [Col],
}

impl Table {
    pub fn write(&self, result: &QueryResult, out: &mut dyn Write) -> Result<()> {
        for line in self.banner {
            writeln!(out, "{line}")?;
        }
        write_table(result, self.cols, 0..result.num_rows(), out)
    }
}

/// The heading line and the lines of rows `range` (counted over all
/// batches) of `result` in the columns `cols`, HOST first when the result
/// has several hosts.
pub fn write_table(
    result: &QueryResult,
    cols: &[Col],
    range: std::ops::Range<usize>,
    out: &mut dyn Write,
) -> Result<()> {
    let several = several_hosts(result)?;
    let host = Col::l("HOST", "host", 4);
    let cols: Vec<&Col> = several
        .then_some(&host)
        .into_iter()
        .chain(cols.iter())
        .collect();
    let mut lines: Vec<Vec<String>> = Vec::with_capacity(range.len());
    let mut first = 0;
    for batch in &result.batches {
        let rows = first..first + batch.num_rows();
        first = rows.end;
        if rows.end <= range.start || rows.start >= range.end {
            continue;
        }
        let mut cells = Vec::with_capacity(cols.len());
        for c in &cols {
            cells.push(Cells::new(batch, c)?);
        }
        for i in range.start.max(rows.start)..range.end.min(rows.end) {
            let i = i - rows.start;
            lines.push(cells.iter().map(|c| c.text(i)).collect());
        }
    }
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(n, c)| {
            lines
                .iter()
                .map(|l| l[n].chars().count())
                .chain([c.width, c.head.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let heads: Vec<String> = cols.iter().map(|c| c.head.to_string()).collect();
    for line in std::iter::once(&heads).chain(&lines) {
        let mut text = String::new();
        for (n, (cell, c)) in line.iter().zip(&cols).enumerate() {
            if n > 0 {
                text.push(' ');
            }
            let pad = widths[n].saturating_sub(cell.chars().count());
            if c.right {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

/// The text of one [`Col`] in a batch, row by row.
enum Cells<'a> {
    Lit(&'static str),
    Joined(Box<Cells<'a>>, Box<Cells<'a>>),
    Value {
        array: &'a dyn Array,
        formatter: ArrayFormatter<'a>,
        max: usize,
        decimals: Option<usize>,
    },
}

impl<'a> Cells<'a> {
    fn new(batch: &'a RecordBatch, col: &Col) -> Result<Cells<'a>> {
        if let Some(text) = col.name.strip_prefix('=') {
            return Ok(Cells::Lit(text));
        }
        if let Some((a, b)) = col.name.split_once(':') {
            let part = |name| Col {
                name,
                ..Col::l("", "", 0)
            };
            return Ok(Cells::Joined(
                Box::new(Cells::new(batch, &part(a))?),
                Box::new(Cells::new(batch, &part(b))?),
            ));
        }
        let options = FormatOptions::default()
            .with_timestamp_format(Some("%H:%M:%S"))
            .with_timestamp_tz_format(Some("%H:%M:%S"));
        let array = column(batch, col.name)?.as_ref();
        Ok(Cells::Value {
            array,
            formatter: ArrayFormatter::try_new(array, &options)?,
            max: col.max,
            decimals: col.decimals,
        })
    }

    fn text(&self, i: usize) -> String {
        match self {
            Cells::Lit(text) => text.to_string(),
            Cells::Joined(a, b) => format!("{}:{}", a.text(i), b.text(i)),
            Cells::Value {
                array,
                formatter,
                max,
                decimals,
            } => {
                if array.is_null(i) {
                    return "-".to_string();
                }
                let text = match (decimals, array.data_type()) {
                    (Some(d), DataType::Float64) => {
                        format!("{:.d$}", array.as_primitive::<Float64Type>().value(i))
                    }
                    _ => formatter.value(i).to_string(),
                };
                let text = match *max {
                    0 => text,
                    m => text.chars().take(m).collect(),
                };
                escape(&text).into_owned()
            }
        }
    }
}

/// Whether the rows come from more than one host (a `host` column with
/// several values).
fn several_hosts(result: &QueryResult) -> Result<bool> {
    if result.schema.column_with_name("host").is_none() {
        return Ok(false);
    }
    let hosts = rows(result, &["host"])?;
    Ok(hosts.iter().any(|h| *h != hosts[0]))
}

/// bpftrace `hist()` maps: rows of `map`, the `keys`, `low`, `high`,
/// `count` (one per bucket that has values, `low` NULL for the negative
/// bucket), sorted as bpftrace prints them: by map, then histograms by
/// their total count, then buckets from low to high. Each histogram is
/// printed as bpftrace prints it: `@map[keys]: `, its buckets from the
/// lowest to the highest with values (those between with 0), an empty line.
pub struct Hists {
    pub banner: &'static [&'static str],
    pub keys: &'static [&'static str],
}

impl Hists {
    pub fn write(&self, result: &QueryResult, out: &mut dyn Write) -> Result<()> {
        for line in self.banner {
            writeln!(out, "{line}")?;
        }
        let mut names = vec!["map"];
        if several_hosts(result)? {
            names.push("host");
        }
        names.extend(self.keys);
        let n_keys = names.len();
        names.extend(["low", "count"]);
        let rows = rows(result, &names)?;
        let mut start = 0;
        while start < rows.len() {
            let key = &rows[start][..n_keys];
            let end = start
                + rows[start..]
                    .iter()
                    .take_while(|r| &r[..n_keys] == key)
                    .count();
            let buckets = rows[start..end]
                .iter()
                .map(|r| {
                    let low = match r[n_keys].as_str() {
                        "" => None,
                        low => Some(low.parse::<i64>()?),
                    };
                    Ok((bucket_index(low), r[n_keys + 1].parse::<u64>()?))
                })
                .collect::<Result<Vec<_>>>()?;
            let (map, keys) = key.split_first().expect("map column");
            if keys.is_empty() {
                writeln!(out, "@{map}: ")?;
            } else {
                writeln!(out, "@{map}[{}]: ", keys.join(", "))?;
            }
            write!(out, "{}", hist(&buckets))?;
            writeln!(out)?;
            start = end;
        }
        Ok(())
    }
}

/// bpftrace's index of the power-of-2 bucket whose lowest value is `low`:
/// 0 for negative values (`low` None), 1 for 0, 2 for 1, k + 2 for 2^k.
pub fn bucket_index(low: Option<i64>) -> usize {
    match low {
        None => 0,
        Some(v) if v <= 0 => 1,
        Some(v) => 65 - v.leading_zeros() as usize,
    }
}

/// bpftrace's label of the power of two 2^power: `1`, `512`, `1K`, `2M`.
fn power_label(power: usize) -> String {
    const SUFFIX: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    format!("{}{}", 1u64 << (power % 10), SUFFIX[power / 10])
}

/// The label of bucket `index` (see [`bucket_index`]): `(..., 0)`, `[0]`,
/// `[1]`, `[2, 4)`, `[1K, 2K)`.
pub fn bucket_label(index: usize) -> String {
    match index {
        0 => "(..., 0)".to_string(),
        1 => "[0]".to_string(),
        2 => "[1]".to_string(),
        i => format!("[{}, {})", power_label(i - 2), power_label(i - 1)),
    }
}

/// The lines of one histogram, as bpftrace (src/output.cpp, `hist_to_str`)
/// prints them: from the lowest bucket with a count to the highest, each
/// `label` left in 16, count right in 8, ` |`, a bar of `@` of 52 at most
/// (count / max count * 52, rounded down as bpftrace's float to int),
/// `|`. `buckets`: (bucket index, count).
pub fn hist(buckets: &[(usize, u64)]) -> String {
    let Some(low) = buckets.iter().filter(|b| b.1 > 0).map(|b| b.0).min() else {
        return String::new();
    };
    let high = buckets.iter().filter(|b| b.1 > 0).map(|b| b.0).max();
    let high = high.unwrap_or(low);
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(0);
    let mut text = String::new();
    for i in low..=high {
        let count: u64 = buckets.iter().filter(|b| b.0 == i).map(|b| b.1).sum();
        let bar = (count as f32 / max as f32 * 52.0) as usize;
        text.push_str(&format!(
            "{:<16}{:>8} |{:<52}|\n",
            bucket_label(i),
            count,
            "@".repeat(bar)
        ));
    }
    text
}

/// bpftrace count maps: rows of `map`, the `keys` and `count`, sorted as
/// bpftrace prints them (by map, then by count): `@map[keys]: count`, an
/// empty line after each map.
pub struct Maps {
    pub banner: &'static [&'static str],
    pub keys: &'static [&'static str],
}

impl Maps {
    pub fn write(&self, result: &QueryResult, out: &mut dyn Write) -> Result<()> {
        for line in self.banner {
            writeln!(out, "{line}")?;
        }
        let mut names = vec!["map"];
        if several_hosts(result)? {
            names.push("host");
        }
        names.extend(self.keys);
        names.push("count");
        let rows = rows(result, &names)?;
        write_maps(&rows, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Printed by bpftrace v0.17.0 on this machine:
    /// `bpftrace -e 'BEGIN { @x = hist(1); @x = hist(3); @x = hist(1000);
    /// @x = hist(1000); @x = hist(1000); @y[1, "a"] = hist(0);
    /// @y[1, "a"] = hist(-5); @y[2, "b"] = hist(2000000);
    /// @y[2, "b"] = hist(5000); exit(); }'`
    const BPFTRACE_X: &str = "\
[1]                    1 |@@@@@@@@@@@@@@@@@                                   |
[2, 4)                 1 |@@@@@@@@@@@@@@@@@                                   |
[4, 8)                 0 |                                                    |
[8, 16)                0 |                                                    |
[16, 32)               0 |                                                    |
[32, 64)               0 |                                                    |
[64, 128)              0 |                                                    |
[128, 256)             0 |                                                    |
[256, 512)             0 |                                                    |
[512, 1K)              3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
";
    const BPFTRACE_Y1: &str = "\
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
";
    const BPFTRACE_Y2: &str = "\
[4K, 8K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[8K, 16K)              0 |                                                    |
[16K, 32K)             0 |                                                    |
[32K, 64K)             0 |                                                    |
[64K, 128K)            0 |                                                    |
[128K, 256K)           0 |                                                    |
[256K, 512K)           0 |                                                    |
[512K, 1M)             0 |                                                    |
[1M, 2M)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
";

    fn buckets(values: &[i64]) -> Vec<(usize, u64)> {
        let mut out: Vec<(usize, u64)> = Vec::new();
        for &v in values {
            let low = (v >= 0).then(|| if v < 2 { v } else { 1 << v.ilog2() });
            let i = bucket_index(low);
            match out.iter_mut().find(|b| b.0 == i) {
                Some(b) => b.1 += 1,
                None => out.push((i, 1)),
            }
        }
        out
    }

    #[test]
    fn hist_is_drawn_as_bpftrace_draws_it() {
        assert_eq!(hist(&buckets(&[1, 3, 1000, 1000, 1000])), BPFTRACE_X);
        assert_eq!(hist(&buckets(&[0, -5])), BPFTRACE_Y1);
        assert_eq!(hist(&buckets(&[2_000_000, 5000])), BPFTRACE_Y2);
        assert_eq!(hist(&[]), "");
    }

    #[test]
    fn bucket_labels() {
        let labels: Vec<String> = [0, 1, 2, 3, 4, 11, 12, 22, 32, 42]
            .into_iter()
            .map(bucket_label)
            .collect();
        assert_eq!(
            labels,
            [
                "(..., 0)",
                "[0]",
                "[1]",
                "[2, 4)",
                "[4, 8)",
                "[512, 1K)",
                "[1K, 2K)",
                "[1M, 2M)",
                "[1G, 2G)",
                "[1T, 2T)"
            ]
        );
        assert_eq!(bucket_index(Some(1 << 20)), 22);
        assert_eq!(bucket_index(Some(2)), 3);
    }
}
