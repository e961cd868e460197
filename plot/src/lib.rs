//! sockrec's charts: the reports that are pictures in an incident review,
//! drawn from the same query results `sockrec query` prints
//! (`sockrec plot REPORT -i CAPTURE -o FILE.svg|png`).
//!
//! - [`charts`]: what to draw, from a report's result: sockstat as one
//!   line per probe (calls per second), tcptop as lines of bytes per
//!   second per process and direction (one chart per host), and the
//!   histograms (socksize, soconnlat, so1stbyte) as bar charts with
//!   bpftrace's `hist()` buckets and labels (one chart per map and what
//!   the report groups by: host, process).
//! - [`draw`]: the charts, stacked in one SVG or PNG file (plotters), with
//!   titles, axis labels and units.

mod charts;
mod draw;

pub use charts::{Chart, PLOTTED, Series, charts};
pub use draw::{Format, draw};
