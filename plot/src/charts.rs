//! What to draw: a report's result as [`Chart`]s.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use sockrec_analyzer::QueryResult;
use sockrec_analyzer::arrow::array::{Array, ArrayRef, AsArray as _, new_empty_array};
use sockrec_analyzer::arrow::compute::{cast, concat};
use sockrec_analyzer::arrow::datatypes::{DataType, Float64Type};
use sockrec_analyzer::arrow::util::display::{ArrayFormatter, FormatOptions};
use sockrec_analyzer::render::{bucket_index, bucket_label};
use sockrec_capture::terminal::escape;

/// The reports `sockrec plot` draws.
pub const PLOTTED: [&str; 5] = ["sockstat", "tcptop", "socksize", "soconnlat", "so1stbyte"];

/// One chart.
#[derive(Clone, Debug, PartialEq)]
pub enum Chart {
    /// Values over time: x is seconds after `start` (an RFC 3339 time).
    Lines {
        title: String,
        start: String,
        y_desc: String,
        series: Vec<Series>,
    },
    /// A power-of-2 histogram: its buckets from the lowest to the highest
    /// with a count (those between with 0), labelled as bpftrace labels
    /// them (`[1K, 2K)`).
    Buckets {
        title: String,
        x_desc: String,
        buckets: Vec<(String, u64)>,
    },
}

/// One line: its name and its points (seconds, value).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// The charts of `report`'s `result` (of [`PLOTTED`]); `interval_s`: the
/// length of tcptop's intervals.
pub fn charts(report: &str, result: &QueryResult, interval_s: f64) -> Result<Vec<Chart>> {
    let table = Table::of(result)?;
    match report {
        "sockstat" => sockstat(&table),
        "tcptop" => tcptop(&table, interval_s),
        "socksize" => hists(&table, "socksize", &["host", "comm"], "bytes"),
        "soconnlat" => hists(
            &table,
            "soconnlat",
            &["host", "comm"],
            "connect latency (µs)",
        ),
        "so1stbyte" => hists(
            &table,
            "so1stbyte",
            &["host", "comm", "pid"],
            "time from connect to first byte read (µs)",
        ),
        other => bail!(
            "{other} is not drawn (plot draws {}); sockrec query {other} prints it",
            PLOTTED.join(", ")
        ),
    }
}

/// A result's columns, each one array, by name: as text for labels, as
/// numbers for x and y.
struct Table {
    names: Vec<String>,
    columns: Vec<ArrayRef>,
}

impl Table {
    fn of(result: &QueryResult) -> Result<Table> {
        let names: Vec<String> = result
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut columns = Vec::with_capacity(names.len());
        for (i, field) in result.schema.fields().iter().enumerate() {
            // A plan's batches may carry other types than its schema
            // says (a NULL column of a UNION): the first batch's rule.
            let data_type = result.batches.first().map_or_else(
                || field.data_type().clone(),
                |b| b.column(i).data_type().clone(),
            );
            let parts = result
                .batches
                .iter()
                .map(|b| cast(b.column(i), &data_type))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            let parts: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
            columns.push(if parts.is_empty() {
                new_empty_array(&data_type)
            } else {
                concat(&parts)?
            });
        }
        Ok(Table { names, columns })
    }

    fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.len())
    }

    fn array(&self, name: &str) -> Result<&ArrayRef> {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .with_context(|| format!("the report has no column {name:?}"))?;
        Ok(&self.columns[i])
    }

    /// The cells as the terminal shows them (a name from the capture with
    /// a control character is no text an SVG may hold); NULL as "".
    fn text(&self, name: &str) -> Result<Vec<String>> {
        let column = self.array(name)?;
        let f = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
        Ok((0..column.len())
            .map(|r| escape(&f.value(r).to_string()).into_owned())
            .collect())
    }

    /// The cells as numbers (times as ns since the epoch); NULL as None.
    fn numbers(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let mut column = self.array(name)?.clone();
        if let DataType::Timestamp(..) = column.data_type() {
            column = cast(&column, &DataType::Int64)?;
        }
        let column =
            cast(&column, &DataType::Float64).with_context(|| format!("{name}: not a number"))?;
        Ok(column.as_primitive::<Float64Type>().iter().collect())
    }

    /// [`Table::numbers`], NULL as 0.
    fn values(&self, name: &str) -> Result<Vec<f64>> {
        Ok(self
            .numbers(name)?
            .into_iter()
            .map(|v| v.unwrap_or(0.0))
            .collect())
    }
}

/// The first time of `ns` (Unix ns) as RFC 3339, and each as seconds
/// after it.
fn seconds_after(ns: &[f64]) -> (String, Vec<f64>) {
    let start = ns.iter().copied().fold(f64::INFINITY, f64::min);
    let start = if start.is_finite() { start } else { 0.0 };
    let shown = format_seconds((start / 1e9).floor() as i64);
    (shown, ns.iter().map(|t| (t - start) / 1e9).collect())
}

/// Unix seconds as `2026-12-07T07:01:54Z`.
fn format_seconds(secs: i64) -> String {
    let array =
        sockrec_analyzer::arrow::array::TimestampSecondArray::from(vec![secs]).with_timezone("UTC");
    let options = FormatOptions::default().with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%SZ"));
    ArrayFormatter::try_new(&array, &options)
        .map(|f| f.value(0).to_string())
        .unwrap_or_else(|_| secs.to_string())
}

/// `points` (sorted by x, from 0) with 0 at every `step` from 0 to the
/// last x where the report has no row: a second without a probe's events
/// is a second of none (bpftrace prints nothing for it), not a line
/// across it.
fn zero_filled(points: Vec<(f64, f64)>, step: f64) -> Vec<(f64, f64)> {
    let Some(last) = points.iter().map(|p| p.0).reduce(f64::max) else {
        return points;
    };
    if step <= 0.0 || last / step > 1e6 {
        return points;
    }
    let mut filled: Vec<(f64, f64)> = (0..=(last / step).round() as u64)
        .map(|i| i as f64 * step)
        .filter(|x| !points.iter().any(|p| (p.0 - x).abs() < step / 2.0))
        .map(|x| (x, 0.0))
        .collect();
    filled.extend(points);
    filled.sort_by(|a, b| a.0.total_cmp(&b.0));
    filled
}

/// sockstat: a line per probe, its calls per second.
fn sockstat(table: &Table) -> Result<Vec<Chart>> {
    let (start, x) = seconds_after(&table.values("second")?);
    let probes = table.text("probe")?;
    let counts = table.values("count")?;
    let mut series: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for i in 0..table.rows() {
        series
            .entry(&probes[i])
            .or_default()
            .push((x[i], counts[i]));
    }
    Ok(vec![Chart::Lines {
        title: "sockstat: socket calls per second, by probe".into(),
        start,
        y_desc: "calls per second".into(),
        series: series
            .into_iter()
            .map(|(name, points)| Series {
                name: name.to_string(),
                points: zero_filled(points, 1.0),
            })
            .collect(),
    }])
}

/// tcptop: per host, a line per process and direction, in KiB per second.
fn tcptop(table: &Table, interval_s: f64) -> Result<Vec<Chart>> {
    let (start, x) = seconds_after(&table.values("time")?);
    let (hosts, pids, comms) = (table.text("host")?, table.text("pid")?, table.text("comm")?);
    let (rx, tx) = (table.values("rx_bytes")?, table.values("tx_bytes")?);
    // host -> (process, direction) -> time -> bytes (connections summed).
    type Lines = BTreeMap<(String, &'static str), BTreeMap<u64, f64>>;
    let mut per_host: BTreeMap<&str, Lines> = BTreeMap::new();
    for i in 0..table.rows() {
        let process = format!("{} {}", comms[i], pids[i]);
        let lines = per_host.entry(&hosts[i]).or_default();
        for (dir, bytes) in [("rx", rx[i]), ("tx", tx[i])] {
            *lines
                .entry((process.clone(), dir))
                .or_default()
                .entry(x[i].to_bits())
                .or_default() += bytes;
        }
    }
    let per_second = interval_s.max(f64::MIN_POSITIVE) * 1024.0;
    Ok(per_host
        .into_iter()
        .map(|(host, lines)| Chart::Lines {
            title: format!("tcptop on {host}: TCP bytes per second, by process"),
            start: start.clone(),
            y_desc: "KiB per second".into(),
            series: lines
                .into_iter()
                .map(|((process, dir), points)| Series {
                    name: format!("{process} {dir}"),
                    points: zero_filled(
                        points
                            .into_iter()
                            .map(|(t, bytes)| (f64::from_bits(t), bytes / per_second))
                            .collect(),
                        interval_s,
                    ),
                })
                .collect(),
        })
        .collect())
}

/// A `hist()` report: a chart per map and `keys` (bpftrace's `@map[keys]`).
fn hists(table: &Table, report: &str, keys: &[&str], x_desc: &str) -> Result<Vec<Chart>> {
    let maps = table.text("map")?;
    let keys: Vec<Vec<String>> = keys.iter().map(|k| table.text(k)).collect::<Result<_>>()?;
    let lows = table.numbers("low")?;
    let counts = table.values("count")?;
    // In the report's order: by map, then by total, as the tool prints.
    let mut order: Vec<String> = Vec::new();
    let mut charts: BTreeMap<String, BTreeMap<usize, u64>> = BTreeMap::new();
    for i in 0..table.rows() {
        let key: Vec<&str> = keys.iter().map(|k| k[i].as_str()).collect();
        let title = format!("{report} @{}[{}]", maps[i], key.join(", "));
        if !charts.contains_key(&title) {
            order.push(title.clone());
        }
        // Bucket bounds are whole numbers (a power of 2, or 0).
        let low = lows[i].map(|low| low as i64);
        *charts
            .entry(title)
            .or_default()
            .entry(bucket_index(low))
            .or_default() += counts[i] as u64;
    }
    Ok(order
        .into_iter()
        .map(|title| {
            let buckets = &charts[&title];
            let low = buckets.keys().next().copied().unwrap_or(0);
            let high = buckets.keys().last().copied().unwrap_or(0);
            Chart::Buckets {
                title,
                x_desc: x_desc.to_string(),
                buckets: (low..=high)
                    .map(|i| (bucket_label(i), buckets.get(&i).copied().unwrap_or(0)))
                    .collect(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second without a row is a 0, not a line drawn across it; rows
    /// the report has stay as they are.
    #[test]
    fn missing_seconds_are_zero() {
        let filled = zero_filled(vec![(0.0, 5.0), (3.0, 7.0)], 1.0);
        assert_eq!(filled, vec![(0.0, 5.0), (1.0, 0.0), (2.0, 0.0), (3.0, 7.0)]);
        let half = zero_filled(vec![(1.0, 2.0)], 0.5);
        assert_eq!(half, vec![(0.0, 0.0), (0.5, 0.0), (1.0, 2.0)]);
        assert!(zero_filled(Vec::new(), 1.0).is_empty());
    }

    #[test]
    fn times_start_at_the_first_second() {
        let (start, x) = seconds_after(&[1_796_626_915e9, 1_796_626_914e9]);
        assert_eq!(start, "2026-12-07T07:01:54Z");
        assert_eq!(x, vec![1.0, 0.0]);
    }
}
