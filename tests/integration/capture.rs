//! Reads a capture back the way any Parquet user would (parquet + arrow),
//! independent of sockrec's own reader.

use arrow_array::{
    Array, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray, UInt16Array,
    UInt32Array, UInt64Array, cast::AsArray,
};
use parquet::{arrow::arrow_reader::ParquetRecordBatchReaderBuilder, file::reader::FileReader};
use std::{collections::HashMap, fs::File, path::Path};

/// One event as a test looks at it.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub kind: String,
    pub probe: String,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub cgroup_id: u64,
    pub comm: String,
    pub fd: Option<i32>,
    pub fd2: Option<i32>,
    pub ret: Option<i64>,
    pub errno: Option<i32>,
    pub latency_ns: Option<u64>,
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub addr: Option<String>,
    pub port: Option<u16>,
    pub bytes: Option<i64>,
    pub in_flight: bool,
    // Format version 2.
    pub inode: Option<u64>,
    pub sock: Option<u64>,
    pub laddr: Option<String>,
    pub lport: Option<u16>,
    pub raddr: Option<String>,
    pub rport: Option<u16>,
    pub old_state: Option<String>,
    pub state: Option<String>,
    pub backlog: Option<u32>,
    pub tx_bytes: Option<u64>,
    pub rx_bytes: Option<u64>,
}

pub struct Capture {
    pub rows: Vec<Row>,
    pub meta: HashMap<String, String>,
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("capture has no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} has an unexpected type"))
}

fn opt<A: Array, T>(a: &A, i: usize, get: impl Fn(&A, usize) -> T) -> Option<T> {
    (!a.is_null(i)).then(|| get(a, i))
}

fn text(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let c = b.column_by_name(name).expect("column");
    if c.is_null(i) {
        return None;
    }
    if let Some(s) = c.as_any().downcast_ref::<StringArray>() {
        return Some(s.value(i).to_string());
    }
    // Dictionary-encoded strings come back as dictionaries.
    let d = c.as_any_dictionary();
    let values = d.values().as_string::<i32>();
    let key = d.normalized_keys()[i];
    Some(values.value(key).to_string())
}

pub fn read(path: &Path) -> Result<Capture, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta_reader = parquet::file::serialized_reader::SerializedFileReader::new(
        file.try_clone().map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("{}: not readable as Parquet: {e}", path.display()))?;
    let meta = meta_reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for batch in reader {
        let b = batch.map_err(|e| e.to_string())?;
        let pid = col::<UInt32Array>(&b, "pid");
        let tid = col::<UInt32Array>(&b, "tid");
        let uid = col::<UInt32Array>(&b, "uid");
        let cgroup_id = col::<UInt64Array>(&b, "cgroup_id");
        let fd = col::<Int32Array>(&b, "fd");
        let fd2 = col::<Int32Array>(&b, "fd2");
        let ret = col::<Int64Array>(&b, "ret");
        let errno = col::<Int32Array>(&b, "errno");
        let lat = col::<UInt64Array>(&b, "latency_ns");
        let family = col::<UInt16Array>(&b, "family");
        let sock_type = col::<UInt16Array>(&b, "sock_type");
        let protocol = col::<UInt16Array>(&b, "protocol");
        let port = col::<UInt16Array>(&b, "port");
        let bytes = col::<Int64Array>(&b, "bytes");
        let in_flight = col::<BooleanArray>(&b, "in_flight");
        let inode = col::<UInt64Array>(&b, "inode");
        let sock = col::<UInt64Array>(&b, "sock");
        let lport = col::<UInt16Array>(&b, "lport");
        let rport = col::<UInt16Array>(&b, "rport");
        let backlog = col::<UInt32Array>(&b, "backlog");
        let tx_bytes = col::<UInt64Array>(&b, "tx_bytes");
        let rx_bytes = col::<UInt64Array>(&b, "rx_bytes");
        for i in 0..b.num_rows() {
            rows.push(Row {
                kind: text(&b, "kind", i).unwrap_or_default(),
                probe: text(&b, "probe", i).unwrap_or_default(),
                comm: text(&b, "comm", i).unwrap_or_default(),
                addr: text(&b, "addr", i),
                pid: pid.value(i),
                tid: tid.value(i),
                uid: uid.value(i),
                cgroup_id: cgroup_id.value(i),
                fd: opt(fd, i, |a, i| a.value(i)),
                fd2: opt(fd2, i, |a, i| a.value(i)),
                ret: opt(ret, i, |a, i| a.value(i)),
                errno: opt(errno, i, |a, i| a.value(i)),
                latency_ns: opt(lat, i, |a, i| a.value(i)),
                family: family.value(i),
                sock_type: sock_type.value(i),
                protocol: protocol.value(i),
                port: opt(port, i, |a, i| a.value(i)),
                bytes: opt(bytes, i, |a, i| a.value(i)),
                in_flight: in_flight.value(i),
                inode: opt(inode, i, |a, i| a.value(i)),
                sock: opt(sock, i, |a, i| a.value(i)),
                laddr: text(&b, "laddr", i),
                lport: opt(lport, i, |a, i| a.value(i)),
                raddr: text(&b, "raddr", i),
                rport: opt(rport, i, |a, i| a.value(i)),
                old_state: text(&b, "old_state", i),
                state: text(&b, "state", i),
                backlog: opt(backlog, i, |a, i| a.value(i)),
                tx_bytes: opt(tx_bytes, i, |a, i| a.value(i)),
                rx_bytes: opt(rx_bytes, i, |a, i| a.value(i)),
            });
        }
    }
    Ok(Capture { rows, meta })
}
