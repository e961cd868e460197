//! The column builders that accumulate events between flushes, and the
//! mapping from a raw [`SocketEvent`] to one row of the capture schema.
//!
//! This is the per-event hot path of the recorder, so [`EventBatch::push`]
//! only appends to Arrow builders. The columns of few distinct strings are
//! Arrow dictionaries (see `docs/capture-format.md`): `kind` and `probe`
//! (static names) append a key found by pointer, `comm` a key found by its
//! raw bytes, and the constant `host` is only made when the batch
//! is finished; `addr` is formatted straight into its builder's buffer.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use arrow_array::builder::{
    BooleanBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
    UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use sockrec_common::{
    AF_INET, AF_INET6, EventKind, FLAG_ENDS, FLAG_IN_FLIGHT, SocketEvent, TCP_STATES,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::addr::SockAddr;
use crate::schema::{TIME_ZONE, capture_schema};

/// Name stored in `kind` for a kind number this build doesn't know (a newer
/// eBPF object, or a corrupt event): better a visible odd row than a panic
/// or a silently dropped event.
pub(crate) const UNKNOWN_KIND: &str = "unknown";

/// Rows the builders reserve up front; they grow (amortized) beyond it.
const INITIAL_ROWS: usize = 8 * 1024;

/// In-memory columns of the events pushed since the last flush, in schema
/// order (see [`crate::schema::capture_schema`]).
pub struct EventBatch {
    boot_time_ns: i64,
    time: TimestampNanosecondBuilder,
    time_ns: UInt64Builder,
    kind: StaticNames,
    probe: StaticNames,
    in_flight: BooleanBuilder,
    cpu: UInt32Builder,
    pid: UInt32Builder,
    tid: UInt32Builder,
    uid: UInt32Builder,
    comm: CommNames,
    cgroup_id: UInt64Builder,
    fd: Int32Builder,
    fd2: Int32Builder,
    ret: Int64Builder,
    errno: Int32Builder,
    latency_ns: UInt64Builder,
    family: UInt16Builder,
    sock_type: UInt16Builder,
    protocol: UInt16Builder,
    call_flags: UInt32Builder,
    addr_family: UInt16Builder,
    addr: StringBuilder,
    port: UInt16Builder,
    bytes: Int64Builder,
    inode: UInt64Builder,
    sock: UInt64Builder,
    laddr: StringBuilder,
    lport: UInt16Builder,
    raddr: StringBuilder,
    rport: UInt16Builder,
    old_state: StateNames,
    state: StateNames,
    backlog: UInt32Builder,
    tx_bytes: UInt64Builder,
    rx_bytes: UInt64Builder,
    rows: usize,
}

impl EventBatch {
    /// `boot_time_ns` (wall-clock Unix ns of boot) turns the kernel's
    /// CLOCK_BOOTTIME stamps into the `time` column.
    pub fn new(boot_time_ns: i64) -> Self {
        let n = INITIAL_ROWS;
        EventBatch {
            boot_time_ns,
            time: TimestampNanosecondBuilder::with_capacity(n).with_timezone(TIME_ZONE),
            time_ns: UInt64Builder::with_capacity(n),
            kind: StaticNames::default(),
            probe: StaticNames::default(),
            in_flight: BooleanBuilder::with_capacity(n),
            cpu: UInt32Builder::with_capacity(n),
            pid: UInt32Builder::with_capacity(n),
            tid: UInt32Builder::with_capacity(n),
            uid: UInt32Builder::with_capacity(n),
            comm: CommNames::default(),
            cgroup_id: UInt64Builder::with_capacity(n),
            fd: Int32Builder::with_capacity(n),
            fd2: Int32Builder::with_capacity(n),
            ret: Int64Builder::with_capacity(n),
            errno: Int32Builder::with_capacity(n),
            latency_ns: UInt64Builder::with_capacity(n),
            family: UInt16Builder::with_capacity(n),
            sock_type: UInt16Builder::with_capacity(n),
            protocol: UInt16Builder::with_capacity(n),
            call_flags: UInt32Builder::with_capacity(n),
            addr_family: UInt16Builder::with_capacity(n),
            // Addresses: short strings, mostly null on messages.
            addr: StringBuilder::with_capacity(n, n * 16),
            port: UInt16Builder::with_capacity(n),
            bytes: Int64Builder::with_capacity(n),
            inode: UInt64Builder::with_capacity(n),
            sock: UInt64Builder::with_capacity(n),
            laddr: StringBuilder::new(),
            lport: UInt16Builder::with_capacity(n),
            raddr: StringBuilder::new(),
            rport: UInt16Builder::with_capacity(n),
            old_state: StateNames::default(),
            state: StateNames::default(),
            backlog: UInt32Builder::with_capacity(n),
            tx_bytes: UInt64Builder::with_capacity(n),
            rx_bytes: UInt64Builder::with_capacity(n),
            rows: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one event as one row. `probe` names the attach point that
    /// produced it (e.g. `tracepoint:syscalls:sys_exit_connect`).
    pub fn push(&mut self, ev: &SocketEvent, probe: &'static str) {
        let kind = EventKind::from_u8(ev.kind);
        let in_flight = ev.flags & FLAG_IN_FLIGHT != 0;
        // Unknown kinds are treated as calls: their ret/latency are kept.
        let is_call = kind.is_none_or(EventKind::is_call);

        self.time.append_value(
            self.boot_time_ns
                .saturating_add(i64::try_from(ev.time_ns).unwrap_or(i64::MAX)),
        );
        self.time_ns.append_value(ev.time_ns);
        self.kind.push(kind.map_or(UNKNOWN_KIND, EventKind::name));
        self.probe.push(probe);
        self.in_flight.append_value(in_flight);
        self.cpu.append_value(ev.cpu);
        self.pid.append_value(ev.pid);
        self.tid.append_value(ev.tid);
        self.uid.append_value(ev.uid);

        self.comm.push(&ev.comm);

        self.cgroup_id.append_value(ev.cgroup_id);
        self.fd.append_option((ev.fd != -1).then_some(ev.fd));
        self.fd2.append_option((ev.fd2 != -1).then_some(ev.fd2));

        // A call still in flight has no return value yet; TCP events and
        // closes have none.
        let no_ret = matches!(
            kind,
            Some(EventKind::TcpState | EventKind::TcpRetransmit | EventKind::Close)
        );
        let ret = (!in_flight && !no_ret).then_some(ev.ret);
        self.ret.append_option(ret);
        self.errno.append_option(
            ret.filter(|&r| r < 0)
                .map(|r| i32::try_from(-r).unwrap_or(i32::MAX)),
        );
        self.latency_ns
            .append_option((is_call && !in_flight).then_some(ev.latency_ns));

        self.family.append_value(ev.family);
        self.sock_type.append_value(ev.sock_type);
        self.protocol.append_value(ev.protocol);
        self.call_flags.append_value(ev.call_flags);

        let addr = SockAddr::parse(&ev.addr, ev.addr_len);
        self.addr_family.append_option(addr.map(|a| a.family()));
        match addr.filter(SockAddr::has_text) {
            Some(a) => {
                let _ = write!(self.addr, "{a}");
                self.addr.append_value("");
            }
            None => self.addr.append_null(),
        }
        self.port.append_option(addr.and_then(|a| a.port()));

        let is_message = kind.is_some_and(EventKind::is_message);
        self.bytes
            .append_option(ret.filter(|&r| is_message && r >= 0));

        self.push_connection(ev, kind);
        self.rows += 1;
    }

    /// The columns of format version 2: the socket's identity and ends,
    /// TCP states and byte counts, listen's backlog.
    fn push_connection(&mut self, ev: &SocketEvent, kind: Option<EventKind>) {
        self.inode
            .append_option((ev.inode != 0).then_some(ev.inode));
        self.sock.append_option((ev.sock != 0).then_some(ev.sock));
        let ends = ev.flags & FLAG_ENDS != 0;
        let local = ends.then(|| end_addr(ev.family, &ev.laddr)).flatten();
        // Not connected: the peer is all zeros (a listener, an unconnected UDP socket).
        let remote = (ends && ev.rport != 0)
            .then(|| end_addr(ev.family, &ev.raddr))
            .flatten();
        for (addr, port, text, port_col) in [
            (local, ev.lport, &mut self.laddr, &mut self.lport),
            (remote, ev.rport, &mut self.raddr, &mut self.rport),
        ] {
            match addr {
                Some(a) => {
                    let _ = write!(text, "{a}");
                    text.append_value("");
                    port_col.append_value(port);
                }
                None => {
                    text.append_null();
                    port_col.append_null();
                }
            }
        }
        let tcp_state = kind == Some(EventKind::TcpState);
        let has_state = tcp_state || kind == Some(EventKind::TcpRetransmit);
        self.old_state.push(tcp_state.then_some(ev.old_state));
        self.state.push(has_state.then_some(ev.state));
        self.backlog
            .append_option((kind == Some(EventKind::Listen)).then_some(ev.backlog));
        self.tx_bytes
            .append_option(tcp_state.then_some(ev.tx_bytes));
        self.rx_bytes
            .append_option(tcp_state.then_some(ev.rx_bytes));
    }

    /// Turns the rows pushed so far into a [`RecordBatch`] of the capture
    /// schema and empties the builders for the next batch.
    pub fn finish(&mut self, host: &str) -> Result<RecordBatch> {
        let rows = std::mem::take(&mut self.rows);
        // The host is the same on every row: one dictionary value, key 0.
        let host: ArrayRef = Arc::new(DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(vec![0; rows]),
            Arc::new(StringArray::from(vec![host])),
        )?);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.time_ns.finish()),
            host,
            self.kind.finish()?,
            self.probe.finish()?,
            Arc::new(self.in_flight.finish()),
            Arc::new(self.cpu.finish()),
            Arc::new(self.pid.finish()),
            Arc::new(self.tid.finish()),
            Arc::new(self.uid.finish()),
            self.comm.finish()?,
            Arc::new(self.cgroup_id.finish()),
            Arc::new(self.fd.finish()),
            Arc::new(self.fd2.finish()),
            Arc::new(self.ret.finish()),
            Arc::new(self.errno.finish()),
            Arc::new(self.latency_ns.finish()),
            Arc::new(self.family.finish()),
            Arc::new(self.sock_type.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.call_flags.finish()),
            Arc::new(self.addr_family.finish()),
            Arc::new(self.addr.finish()),
            Arc::new(self.port.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.inode.finish()),
            Arc::new(self.sock.finish()),
            Arc::new(self.laddr.finish()),
            Arc::new(self.lport.finish()),
            Arc::new(self.raddr.finish()),
            Arc::new(self.rport.finish()),
            self.old_state.finish()?,
            self.state.finish()?,
            Arc::new(self.backlog.finish()),
            Arc::new(self.tx_bytes.finish()),
            Arc::new(self.rx_bytes.finish()),
        ];
        RecordBatch::try_new(capture_schema(), columns)
            .context("building a record batch of the capture schema")
    }
}

/// An address of a socket's end, from the kernel's bytes (network order,
/// IPv4 in the first four) for the socket's `family`.
fn end_addr(family: u16, raw: &[u8; 16]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(*raw))),
        _ => None,
    }
}

/// A nullable dictionary column of TCP state names: the key is the
/// kernel's state number itself, the values [`TCP_STATES`] (and `UNKNOWN`
/// after them, for a number this build does not know).
#[derive(Default)]
struct StateNames {
    keys: Vec<Option<i32>>,
}

impl StateNames {
    fn push(&mut self, state: Option<u8>) {
        self.keys
            .push(state.map(|s| (s as usize).min(TCP_STATES.len()) as i32));
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        let keys = Int32Array::from(std::mem::take(&mut self.keys));
        let mut names: Vec<&str> = TCP_STATES.to_vec();
        names.push("UNKNOWN");
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
            keys,
            Arc::new(StringArray::from(names)),
        )?))
    }
}

/// A dictionary column of `&'static str` names (event kinds, probe names):
/// a handful of distinct values, each appended as the key of its first
/// appearance, found by address (the names are the same statics every
/// time) before falling back to comparing text.
#[derive(Default)]
struct StaticNames {
    keys: Vec<i32>,
    values: Vec<&'static str>,
}

impl StaticNames {
    fn push(&mut self, name: &'static str) {
        let same = |v: &&str| std::ptr::eq(*v, name) || *v == name;
        let key = match self.values.iter().position(same) {
            Some(k) => k,
            None => {
                self.values.push(name);
                self.values.len() - 1
            }
        };
        // Few names: the key always fits.
        self.keys.push(key as i32);
    }

    /// The column so far; the names stay for the next batch.
    fn finish(&mut self) -> Result<ArrayRef> {
        let keys = Int32Array::from(std::mem::take(&mut self.keys));
        let values = Arc::new(StringArray::from(self.values.clone()));
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
            keys, values,
        )?))
    }
}

/// The `comm` column: a dictionary of the task names seen, looked up by
/// their 16 raw bytes. Consecutive events mostly come from the same task,
/// so the last name is tried first with one 16-byte compare; others go
/// through a map. Arrow's string dictionary builder, used before, hashed
/// and compared the text of every row and checked it as UTF-8 first. This
/// took the recorder from 511 to 483 ns of CPU per event on the UDP loop
/// (three alternating runs of each); Parquet still interns every row's
/// value again when it writes the column.
#[derive(Default)]
struct CommNames {
    keys: Vec<i32>,
    values: Vec<String>,
    index: HashMap<[u8; 16], i32>,
    last: Option<([u8; 16], i32)>,
}

impl CommNames {
    fn push(&mut self, raw: &[u8; 16]) {
        // NUL-padded; anything after the first NUL is stale and must not
        // make the same name look new.
        let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let mut name = [0u8; 16];
        name[..len].copy_from_slice(&raw[..len]);
        let key = match self.last {
            Some((last, key)) if last == name => key,
            _ => {
                let next = self.values.len();
                let key = *self.index.entry(name).or_insert_with(|| {
                    self.values
                        .push(String::from_utf8_lossy(&name[..len]).into_owned());
                    // At most one value per distinct name of a row group:
                    // far below i32::MAX.
                    next as i32
                });
                self.last = Some((name, key));
                key
            }
        };
        self.keys.push(key);
    }

    /// The column so far; starts the next batch with an empty dictionary,
    /// as each batch's own names are all it needs.
    fn finish(&mut self) -> Result<ArrayRef> {
        let keys = Int32Array::from(std::mem::take(&mut self.keys));
        let values = Arc::new(StringArray::from(std::mem::take(&mut self.values)));
        self.index.clear();
        self.last = None;
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
            keys, values,
        )?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::addr::tests::{sockaddr_in, sockaddr_in6, sockaddr_un};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type, UInt16Type, UInt64Type};
    use arrow_array::{Array, BooleanArray};
    use sockrec_common::ADDR_CAP;
    use std::net::Ipv6Addr;

    /// An event of the given kind that knows nothing else.
    pub(crate) fn event(kind: EventKind) -> SocketEvent {
        SocketEvent::new(kind, 1_000)
    }

    pub(crate) fn with_addr(mut ev: SocketEvent, (raw, len): ([u8; ADDR_CAP], u16)) -> SocketEvent {
        ev.addr = raw;
        ev.addr_len = len;
        ev
    }

    /// A dictionary column, as the strings a reader sees.
    fn dictionary_text(batch: &RecordBatch, name: &str) -> Vec<String> {
        let col = batch.column_by_name(name).unwrap();
        let d = col.as_dictionary::<Int32Type>();
        let values = d.values().as_string::<i32>();
        d.keys()
            .iter()
            .map(|k| values.value(k.unwrap() as usize).to_string())
            .collect()
    }

    #[test]
    fn columns_follow_the_event() {
        let mut b = EventBatch::new(1_700_000_000_000_000_000);

        // 0: connect to 127.0.0.1:8080 that failed with ECONNREFUSED.
        let mut ev = with_addr(event(EventKind::Connect), sockaddr_in([127, 0, 0, 1], 8080));
        ev.ret = -111;
        ev.fd = 3;
        ev.latency_ns = 42;
        ev.comm[..4].copy_from_slice(b"curl");
        ev.comm[5] = b'x'; // stale byte after the NUL: not part of comm
        b.push(&ev, "tracepoint:syscalls:sys_exit_connect");

        // 1: recv of 10 bytes (latency is meaningless for messages).
        let mut ev = event(EventKind::Recv);
        ev.ret = 10;
        ev.latency_ns = 99;
        b.push(&ev, "kprobe:sock_recvmsg");

        // 2: accept still in flight.
        let mut ev = with_addr(
            event(EventKind::Accept),
            sockaddr_in6(Ipv6Addr::LOCALHOST, 22),
        );
        ev.flags = FLAG_IN_FLIGHT;
        ev.ret = -4;
        ev.fd = 5;
        b.push(&ev, "tracepoint:syscalls:sys_enter_accept");

        // 3: bind to an abstract unix name; 4: unknown kind.
        b.push(
            &with_addr(event(EventKind::Bind), sockaddr_un(b"\0abs", 2 + 4)),
            "p",
        );
        let mut ev = event(EventKind::Send);
        ev.kind = 200;
        ev.ret = -1;
        b.push(&ev, "p");

        assert!(!b.is_empty());
        let batch = b.finish("h1").unwrap();
        assert!(b.is_empty());
        assert_eq!(batch.num_rows(), 5);

        let c = |name: &str| batch.column_by_name(name).unwrap().clone();
        let text = |name: &str| dictionary_text(&batch, name);
        assert_eq!(
            text("kind"),
            ["connect", "recv", "accept", "bind", UNKNOWN_KIND]
        );
        assert_eq!(text("comm")[0], "curl");
        assert_eq!(text("host")[4], "h1");
        assert_eq!(
            text("probe"),
            [
                "tracepoint:syscalls:sys_exit_connect",
                "kprobe:sock_recvmsg",
                "tracepoint:syscalls:sys_enter_accept",
                "p",
                "p"
            ]
        );

        let time = c("time");
        let time = time.as_primitive::<arrow_array::types::TimestampNanosecondType>();
        assert_eq!(time.value(0), 1_700_000_000_000_001_000);

        let ret = c("ret");
        let ret = ret.as_primitive::<Int64Type>();
        assert_eq!(
            ret.iter().collect::<Vec<_>>(),
            [Some(-111), Some(10), None, Some(0), Some(-1)]
        );
        let errno = c("errno");
        let errno = errno.as_primitive::<Int32Type>();
        assert_eq!(
            errno.iter().collect::<Vec<_>>(),
            [Some(111), None, None, None, Some(1)]
        );
        let lat = c("latency_ns");
        let lat = lat.as_primitive::<UInt64Type>();
        assert_eq!(
            lat.iter().collect::<Vec<_>>(),
            [Some(42), None, None, Some(0), Some(0)]
        );
        let bytes = c("bytes");
        let bytes = bytes.as_primitive::<Int64Type>();
        assert_eq!(
            bytes.iter().collect::<Vec<_>>(),
            [None, Some(10), None, None, None]
        );
        let fd = c("fd");
        let fd = fd.as_primitive::<Int32Type>();
        assert_eq!(
            fd.iter().collect::<Vec<_>>(),
            [Some(3), None, Some(5), None, None]
        );
        assert_eq!(c("fd2").null_count(), 5);

        let in_flight = c("in_flight");
        let in_flight: &BooleanArray = in_flight.as_boolean();
        assert_eq!(
            in_flight.iter().flatten().collect::<Vec<_>>(),
            [false, false, true, false, false]
        );

        let addr = c("addr");
        let addr = addr.as_string::<i32>();
        assert_eq!(
            addr.iter().collect::<Vec<_>>(),
            [Some("127.0.0.1"), None, Some("::1"), Some("@abs"), None]
        );
        let port = c("port");
        let port = port.as_primitive::<UInt16Type>();
        assert_eq!(
            port.iter().collect::<Vec<_>>(),
            [Some(8080), None, Some(22), None, None]
        );
        let fam = c("addr_family");
        let fam = fam.as_primitive::<UInt16Type>();
        assert_eq!(
            fam.iter().collect::<Vec<_>>(),
            [Some(2), None, Some(10), Some(1), None]
        );
    }

    #[test]
    fn builders_are_reusable_after_finish() {
        let mut b = EventBatch::new(0);
        b.push(&event(EventKind::Socket), "p");
        assert_eq!(b.finish("h").unwrap().num_rows(), 1);
        // The timestamp builder must keep its time zone across batches, or
        // the second batch would not match the schema.
        b.push(&event(EventKind::Socket), "p");
        b.push(&event(EventKind::Socket), "p");
        assert_eq!(b.finish("h").unwrap().num_rows(), 2);
        assert_eq!(b.finish("h").unwrap().num_rows(), 0);
    }

    /// `comm` keeps each row's own name whatever the order, stale bytes
    /// after the NUL, non-UTF-8 bytes or batch boundaries.
    #[test]
    fn comm_names_per_row() {
        let mut b = EventBatch::new(0);
        let comms: [&[u8]; 6] = [
            b"nginx",
            b"curl",
            b"nginx",
            b"curl\0zz",
            b"\xffbad",
            b"nginx",
        ];
        let mut got = Vec::new();
        for half in comms.chunks(3) {
            for c in half {
                let mut ev = event(EventKind::Send);
                ev.comm[..c.len()].copy_from_slice(c);
                b.push(&ev, "p");
            }
            got.extend(dictionary_text(&b.finish("h").unwrap(), "comm"));
        }
        assert_eq!(
            got,
            ["nginx", "curl", "nginx", "curl", "\u{fffd}bad", "nginx"]
        );
    }
}
