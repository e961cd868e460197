//! Part 4, size: bytes per event on disk for each workload, and how writer
//! settings would move it.
//!
//! Each workload is recorded on its own, filtered to the workload's comm
//! (`--comm bench-udp`), so the capture holds its events and nothing else.
//! Then the capture is rewritten (see `parquet_io`) under one changed
//! setting at a time: row-group size, dictionaries, delta encoding of the
//! time columns, page size, zstd level, page statistics. Sizes include the footer and
//! metadata, as a user's `ls` would.

use anyhow::Result;
use parquet::{
    basic::{Compression, Encoding, ZstdLevel},
    file::properties::{EnabledStatistics, WriterPropertiesBuilder},
    schema::types::ColumnPath,
};

use super::bpf_stats::BpfStats;
use super::overhead::WORKLOADS;
use super::parquet_io::{self, DISTINCT_COLUMNS, recorder_props};
use super::recorder::Recorder;
use super::report::{Report, Status, si};
use super::workload::{comm_of, run_workload};
use super::{Options, env::Env};

/// One rewrite of a capture: a name and its writer settings.
struct Variant {
    name: &'static str,
    props: fn() -> WriterPropertiesBuilder,
}

/// The time columns plain, as before the recorder delta-encoded them.
fn plain_time(b: WriterPropertiesBuilder) -> WriterPropertiesBuilder {
    ["time", "time_ns"].iter().fold(b, |b, c| {
        b.set_column_encoding(ColumnPath::from(*c), Encoding::PLAIN)
    })
}

const ONE_MI: usize = 1 << 20;

const VARIANTS: &[Variant] = &[
    Variant {
        name: "recorder's settings, 1 Mi-row groups",
        props: || recorder_props(Some(ONE_MI)),
    },
    Variant {
        name: "row groups of 64 Ki rows (the recorder's)",
        props: || recorder_props(Some(64 << 10)),
    },
    Variant {
        name: "row groups of 256 Ki rows",
        props: || recorder_props(Some(256 << 10)),
    },
    Variant {
        name: "one row group",
        props: || recorder_props(None),
    },
    Variant {
        name: "no dictionaries",
        props: || recorder_props(Some(ONE_MI)).set_dictionary_enabled(false),
    },
    Variant {
        name: "time, time_ns PLAIN (not DELTA_BINARY_PACKED)",
        props: || plain_time(recorder_props(Some(ONE_MI))),
    },
    Variant {
        name: "latency_ns DELTA_BINARY_PACKED too",
        props: || {
            recorder_props(Some(ONE_MI)).set_column_encoding(
                ColumnPath::from(DISTINCT_COLUMNS[2]),
                Encoding::DELTA_BINARY_PACKED,
            )
        },
    },
    Variant {
        name: "data pages of 20 000 rows (parquet-rs's default; the recorder's: 8 Ki)",
        props: || recorder_props(Some(ONE_MI)).set_data_page_row_count_limit(20_000),
    },
    Variant {
        name: "zstd level 1",
        props: || {
            recorder_props(Some(ONE_MI))
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid")))
        },
    },
    Variant {
        name: "zstd level 9",
        props: || {
            recorder_props(Some(ONE_MI))
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(9).expect("valid")))
        },
    },
    Variant {
        name: "column-chunk statistics only (no page index)",
        props: || recorder_props(Some(ONE_MI)).set_statistics_enabled(EnabledStatistics::Chunk),
    },
    Variant {
        name: "zstd 9 + one row group",
        props: || {
            recorder_props(None)
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(9).expect("valid")))
        },
    },
];

pub fn run(env: &Env, opts: &Options, report: &mut Report) -> Result<()> {
    let dur = opts.secs(5.0, 2.0);
    let _stats = BpfStats::set(false)?;
    for kind in WORKLOADS {
        eprintln!("bench: size: recording the {kind} workload");
        let path = env.scratch(&format!("size-{kind}.parquet"));
        let comm = comm_of(kind);
        let rec = Recorder::start(env, &path, &["--comm", &comm])?;
        run_workload(env, kind, dur)?;
        let r = rec.stop()?;
        let rows = parquet_io::rows(&path)?;
        let per_event = r.file_bytes as f64 / rows.max(1) as f64;
        report.say(format!(
            "**{kind}**: {:.1} s recorded, {} events, {} bytes: **{per_event:.2} bytes/event** \
             (the recorder's own row groups{}).",
            dur.as_secs_f64(),
            si(rows as f64),
            si(r.file_bytes as f64),
            if r.lost > 0 {
                format!("; {} events lost", r.lost)
            } else {
                String::new()
            }
        ));
        report.say(String::new());
        let (target, status) = if kind == "udp" {
            ("≤ 8 bytes".to_string(), Status::at_most(per_event, 8.0))
        } else {
            (String::new(), Status::Info)
        };
        report.figure(
            format!("{kind}: bytes per event on disk"),
            format!("{per_event:.2} bytes"),
            target,
            status,
        );

        let mut rows_out = Vec::new();
        let tmp = env.scratch("size-variant.parquet");
        for v in VARIANTS {
            let cell = match parquet_io::rewrite(&path, &tmp, (v.props)()) {
                Ok(bytes) => {
                    let b = bytes as f64 / rows.max(1) as f64;
                    vec![
                        format!("{b:.2}"),
                        format!("{:+.0} %", 100.0 * (b / per_event - 1.0)),
                    ]
                }
                Err(e) => vec![format!("failed: {e:#}"), String::new()],
            };
            rows_out.push([vec![v.name.to_string()], cell].concat());
        }
        let _ = std::fs::remove_file(&tmp);
        report.table(&["rewritten with", "bytes/event", "vs recorded"], &rows_out);

        // Where the bytes go, as recorded.
        let cols = parquet_io::column_sizes(&path)?;
        let total: u64 = cols.iter().map(|c| c.1).sum();
        let col_rows: Vec<Vec<String>> = cols
            .iter()
            .take(8)
            .map(|(name, bytes)| {
                vec![
                    format!("`{name}`"),
                    format!("{:.2}", *bytes as f64 / rows.max(1) as f64),
                    format!("{:.0} %", 100.0 * *bytes as f64 / total.max(1) as f64),
                ]
            })
            .collect();
        report.say(format!(
            "Largest columns of the {kind} capture as recorded (compressed column chunks; \
             the rest is footer and page index):"
        ));
        report.say(String::new());
        report.table(&["column", "bytes/event", "share of columns"], &col_rows);
    }
    Ok(())
}
