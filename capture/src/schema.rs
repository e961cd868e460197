//! The Arrow schema of a capture file and the names of its Parquet
//! key-value metadata.
//!
//! A capture is one Parquet file with one row per socket event. The column
//! list here is the contract with everything that reads captures (`sockrec
//! info`, the SQL reports, DuckDB/pandas users), so it is documented column by
//! column in `docs/capture-format.md`; change both together and bump
//! [`FORMAT_VERSION`] for anything a reader could misinterpret.

use std::sync::{Arc, OnceLock};

use anyhow::{Result, bail};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sockrec_common::EventKind;

/// The version of the capture format this crate writes, and the newest it
/// reads. Stored as [`META_FORMAT_VERSION`].
pub const FORMAT_VERSION: u32 = 2;

/// Format version of the file (decimal). Its presence is what makes a Parquet
/// file a sockrec capture.
pub const META_FORMAT_VERSION: &str = "sockrec.format_version";
/// Version of the sockrec that wrote the file.
pub const META_VERSION: &str = "sockrec.version";
/// Host name of the traced machine (also in the `host` column).
pub const META_HOST: &str = "sockrec.host";
/// Kernel release of the traced machine (`uname -r`).
pub const META_KERNEL: &str = "sockrec.kernel";
/// Wall-clock time of boot, in Unix epoch ns: add it to `time_ns` to get
/// Unix epoch ns (this is how the `time` column is computed).
pub const META_BOOT_TIME_NS: &str = "sockrec.boot_time_ns";
/// When recording started, Unix epoch ns.
pub const META_START_NS: &str = "sockrec.start_ns";
/// When recording ended (or, in a provisional footer, when it was written),
/// Unix epoch ns.
pub const META_END_NS: &str = "sockrec.end_ns";
/// The probes that were attached, as text supplied by the recorder.
pub const META_PROBES: &str = "sockrec.probes";
/// Events lost because the ring buffer was full, per CPU, comma-separated.
pub const META_LOST: &str = "sockrec.lost";
/// The filters the recording ran with, as text supplied by the recorder.
pub const META_FILTERS: &str = "sockrec.filters";
/// `"true"` only if the file was finished cleanly; `"false"` in the
/// provisional footers written by each flush.
pub const META_COMPLETE: &str = "sockrec.complete";
/// Metadata key: what was done to the events after recording (`sockrec
/// slice`, `sockrec redact`), a line per step; absent for a capture as
/// recorded.
pub const META_DERIVED: &str = "sockrec.derived";

/// Column names, in schema order. Kept as constants so the reader and tests
/// don't repeat string literals.
pub mod col {
    pub const TIME: &str = "time";
    pub const TIME_NS: &str = "time_ns";
    pub const HOST: &str = "host";
    pub const KIND: &str = "kind";
    pub const PROBE: &str = "probe";
    pub const IN_FLIGHT: &str = "in_flight";
    pub const CPU: &str = "cpu";
    pub const PID: &str = "pid";
    pub const TID: &str = "tid";
    pub const UID: &str = "uid";
    pub const COMM: &str = "comm";
    pub const CGROUP_ID: &str = "cgroup_id";
    pub const FD: &str = "fd";
    pub const FD2: &str = "fd2";
    pub const RET: &str = "ret";
    pub const ERRNO: &str = "errno";
    pub const LATENCY_NS: &str = "latency_ns";
    pub const FAMILY: &str = "family";
    pub const SOCK_TYPE: &str = "sock_type";
    pub const PROTOCOL: &str = "protocol";
    pub const CALL_FLAGS: &str = "call_flags";
    pub const ADDR_FAMILY: &str = "addr_family";
    pub const ADDR: &str = "addr";
    pub const PORT: &str = "port";
    pub const BYTES: &str = "bytes";
    // Format version 2: connections.
    pub const INODE: &str = "inode";
    pub const SOCK: &str = "sock";
    pub const LADDR: &str = "laddr";
    pub const LPORT: &str = "lport";
    pub const RADDR: &str = "raddr";
    pub const RPORT: &str = "rport";
    pub const OLD_STATE: &str = "old_state";
    pub const STATE: &str = "state";
    pub const BACKLOG: &str = "backlog";
    pub const TX_BYTES: &str = "tx_bytes";
    pub const RX_BYTES: &str = "rx_bytes";
}

/// The columns format version 1 did not have, each with the first version
/// that has it: a report that needs one says so of an older capture.
pub const ADDED_COLUMNS: [(&str, u32); 11] = [
    (col::INODE, 2),
    (col::SOCK, 2),
    (col::LADDR, 2),
    (col::LPORT, 2),
    (col::RADDR, 2),
    (col::RPORT, 2),
    (col::OLD_STATE, 2),
    (col::STATE, 2),
    (col::BACKLOG, 2),
    (col::TX_BYTES, 2),
    (col::RX_BYTES, 2),
];

/// The time zone of the `time` column: captures store absolute instants, and
/// tagging them UTC makes DuckDB/pandas show them as such rather than as
/// naive local times.
pub const TIME_ZONE: &str = "UTC";

/// The Arrow schema of a capture (shared: building it once avoids
/// reallocating ~25 fields for every batch).
pub fn capture_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(build_schema).clone()
}

fn build_schema() -> SchemaRef {
    use DataType::*;
    // Columns of few distinct strings are Arrow dictionaries: readers that
    // honour the Arrow schema (arrow-rs, so DataFusion; pyarrow and pandas,
    // as categoricals) take the Parquet dictionary pages as they are instead
    // of decoding a string per row. The Parquet bytes are those of a plain
    // dictionary-encoded string column, which other readers see.
    let names = || Dictionary(Box::new(Int32), Box::new(Utf8));
    let f = |name: &str, ty: DataType, nullable: bool| Field::new(name, ty, nullable);
    Arc::new(Schema::new(vec![
        f(
            col::TIME,
            Timestamp(TimeUnit::Nanosecond, Some(TIME_ZONE.into())),
            false,
        ),
        f(col::TIME_NS, UInt64, false),
        f(col::HOST, names(), false),
        f(col::KIND, names(), false),
        f(col::PROBE, names(), false),
        f(col::IN_FLIGHT, Boolean, false),
        f(col::CPU, UInt32, false),
        f(col::PID, UInt32, false),
        f(col::TID, UInt32, false),
        f(col::UID, UInt32, false),
        f(col::COMM, names(), false),
        f(col::CGROUP_ID, UInt64, false),
        f(col::FD, Int32, true),
        f(col::FD2, Int32, true),
        f(col::RET, Int64, true),
        f(col::ERRNO, Int32, true),
        f(col::LATENCY_NS, UInt64, true),
        f(col::FAMILY, UInt16, false),
        f(col::SOCK_TYPE, UInt16, false),
        f(col::PROTOCOL, UInt16, false),
        f(col::CALL_FLAGS, UInt32, false),
        f(col::ADDR_FAMILY, UInt16, true),
        f(col::ADDR, Utf8, true),
        f(col::PORT, UInt16, true),
        f(col::BYTES, Int64, true),
        f(col::INODE, UInt64, true),
        f(col::SOCK, UInt64, true),
        f(col::LADDR, Utf8, true),
        f(col::LPORT, UInt16, true),
        f(col::RADDR, Utf8, true),
        f(col::RPORT, UInt16, true),
        f(col::OLD_STATE, names(), true),
        f(col::STATE, names(), true),
        f(col::BACKLOG, UInt32, true),
        f(col::TX_BYTES, UInt64, true),
        f(col::RX_BYTES, UInt64, true),
    ]))
}

/// Parses `--events connect,accept,...` (`record` and `slice`): names of
/// the `kind` column, each once, in the order given.
pub fn parse_event_kinds(list: &str) -> Result<Vec<EventKind>> {
    let mut kinds = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(kind) = EventKind::from_name(name) else {
            let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
            bail!(
                "--events: unknown event kind {name:?} (known: {})",
                known.join(", ")
            );
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        bail!("--events needs at least one event kind");
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_and_in_order() {
        let schema = capture_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names.first(), Some(&col::TIME));
        assert_eq!(names.last(), Some(&col::RX_BYTES));
        // Version 1's columns first, as they were; then the added ones.
        let v1 = names.iter().position(|&n| n == col::BYTES).unwrap();
        let added: Vec<&str> = ADDED_COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names[v1 + 1..], added[..]);
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
    }

    #[test]
    fn metadata_keys_share_the_prefix() {
        for key in [
            META_FORMAT_VERSION,
            META_VERSION,
            META_HOST,
            META_KERNEL,
            META_BOOT_TIME_NS,
            META_START_NS,
            META_END_NS,
            META_PROBES,
            META_LOST,
            META_FILTERS,
            META_DERIVED,
            META_COMPLETE,
        ] {
            assert!(key.starts_with("sockrec."), "{key}");
        }
    }
}
