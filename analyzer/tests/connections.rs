//! The connection reports over a small synthetic capture (format v2),
//! written here from `SocketEvent`s, whose output is worked out by hand:
//!
//! - curl (pid 100) connects 127.0.0.1:40000 -> 127.0.0.1:80 (blocking,
//!   0.5 ms), sends 100 bytes, reads 5000 + 3000, closes first; the kernel
//!   moves its states (SYN_SENT at 10.0011 s ... CLOSE at 10.103 s: 101.9
//!   ms, tx 100, rx 8000 bytes).
//! - nginx (pid 200) listens on 127.0.0.1:80 (backlog 511) and accepts it
//!   (accept4 blocked from 9.5 s to 10.0014 s), reads the 100 bytes, sends
//!   8000, closes after the peer (SYN_RECV at 10.0012 s ... CLOSE at
//!   10.105 s: 103.8 ms).
//! - curl (pid 101) connects to [::1]:81, refused (ECONNREFUSED after 200
//!   us).
//! - app (pid 102) connects non-blocking (EINPROGRESS after 10 us) to
//!   127.0.0.1:8080 at 12 s, on the `sock` address curl's session used (its
//!   life ended at CLOSE): ESTABLISHED 2 ms later, one retransmit (in
//!   softirq: pid 0) at 12.5 s, 10 bytes read at 12.010 s, still open.
//! - dig (pid 103) connects a UDP socket to 8.8.8.8:53.
//!
//! The captured host boots at 2025-12-01 00:00:00 UTC, so `time_ns` 10 s
//! shows as 00:00:10.

use std::path::{Path, PathBuf};

use sockrec_analyzer::{Format, Limits, Params, Query, reports};
use sockrec_capture::{CaptureMeta, CaptureWriter};
use sockrec_common::{EventKind, FLAG_ENDS, SocketEvent, TCP_STATES};

const BOOT: i64 = 1_764_547_200_000_000_000;
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

const CURL_SOCK: u64 = 0xffff_8880_0000_1000;
const NGINX_LISTEN_SOCK: u64 = 0xffff_8880_0000_2000;
const NGINX_SOCK: u64 = 0xffff_8880_0000_3000;
const REFUSED_SOCK: u64 = 0xffff_8880_0000_4000;

fn task(kind: EventKind, time_ns: u64, pid: u32, comm: &str) -> SocketEvent {
    let mut ev = SocketEvent::new(kind, time_ns);
    ev.pid = pid;
    ev.tid = pid;
    ev.comm[..comm.len()].copy_from_slice(comm.as_bytes());
    ev
}

fn ip(text: &str) -> std::net::IpAddr {
    text.parse().unwrap()
}

/// The socket's family, type, protocol.
fn inet(mut ev: SocketEvent, family: u16, sock_type: u16, protocol: u16) -> SocketEvent {
    ev.family = family;
    ev.sock_type = sock_type;
    ev.protocol = protocol;
    ev
}

fn tcp4(ev: SocketEvent) -> SocketEvent {
    inet(ev, 2, 1, 6)
}

/// The call's sockaddr (`addr`, `port`).
fn sockaddr(mut ev: SocketEvent, addr: &str, port: u16) -> SocketEvent {
    match ip(addr) {
        std::net::IpAddr::V4(a) => {
            ev.addr[..2].copy_from_slice(&2u16.to_ne_bytes());
            ev.addr[2..4].copy_from_slice(&port.to_be_bytes());
            ev.addr[4..8].copy_from_slice(&a.octets());
            ev.addr_len = 16;
        }
        std::net::IpAddr::V6(a) => {
            ev.addr[..2].copy_from_slice(&10u16.to_ne_bytes());
            ev.addr[2..4].copy_from_slice(&port.to_be_bytes());
            ev.addr[8..24].copy_from_slice(&a.octets());
            ev.addr_len = 28;
        }
    }
    ev
}

/// The socket's ends (`laddr`... `rport`; `raddr` "" for none).
fn ends(mut ev: SocketEvent, laddr: &str, lport: u16, raddr: &str, rport: u16) -> SocketEvent {
    let bytes = |a: &str| match ip(a) {
        std::net::IpAddr::V4(a) => {
            let mut b = [0; 16];
            b[..4].copy_from_slice(&a.octets());
            b
        }
        std::net::IpAddr::V6(a) => a.octets(),
    };
    ev.flags |= FLAG_ENDS;
    ev.laddr = bytes(laddr);
    ev.lport = lport;
    if !raddr.is_empty() {
        ev.raddr = bytes(raddr);
        ev.rport = rport;
    }
    ev
}

fn state_no(name: &str) -> u8 {
    TCP_STATES.iter().position(|s| *s == name).unwrap() as u8
}

/// A tcp_state row of `sock` from `old` to `new`, made by `pid`/`comm`.
#[allow(clippy::too_many_arguments)]
fn change(
    t: u64,
    pid: u32,
    comm: &str,
    sock: u64,
    inode: u64,
    old: &str,
    new: &str,
    bytes: (u64, u64),
) -> SocketEvent {
    let mut ev = tcp4(task(EventKind::TcpState, t, pid, comm));
    ev.sock = sock;
    ev.inode = inode;
    ev.old_state = state_no(old);
    ev.state = state_no(new);
    ev.tx_bytes = bytes.0;
    ev.rx_bytes = bytes.1;
    ev
}

fn call(mut ev: SocketEvent, latency_ns: u64, ret: i64) -> SocketEvent {
    ev.latency_ns = latency_ns;
    ev.ret = ret;
    ev
}

fn message(kind: EventKind, t: u64, pid: u32, comm: &str, inode: u64, bytes: i64) -> SocketEvent {
    let mut ev = tcp4(task(kind, t, pid, comm));
    ev.inode = inode;
    ev.ret = bytes;
    ev
}

fn events() -> Vec<SocketEvent> {
    use EventKind::*;
    let mut v = Vec::new();
    let (curl, nginx) = ((100, "curl"), (200, "nginx"));
    let swapper = (0, "swapper/1");

    // nginx listens on 127.0.0.1:80.
    let mut listen = tcp4(task(Listen, 9 * S, nginx.0, nginx.1));
    listen.fd = 3;
    listen.inode = 2000;
    listen.sock = NGINX_LISTEN_SOCK;
    listen.backlog = 511;
    v.push(call(ends(listen, "127.0.0.1", 80, "", 0), 20_000, 0));
    let mut to_listen = change(
        9 * S,
        nginx.0,
        nginx.1,
        NGINX_LISTEN_SOCK,
        2000,
        "CLOSE",
        "LISTEN",
        (0, 0),
    );
    to_listen = ends(to_listen, "127.0.0.1", 80, "", 0);
    v.push(to_listen);

    // curl's session, seen from both ends.
    let c = |ev| ends(ev, "127.0.0.1", 40000, "127.0.0.1", 80);
    let n = |ev| ends(ev, "127.0.0.1", 80, "127.0.0.1", 40000);
    let mut connect = tcp4(task(Connect, 10 * S + MS, curl.0, curl.1));
    connect.fd = 3;
    connect.inode = 1001;
    connect.sock = CURL_SOCK;
    v.push(call(c(sockaddr(connect, "127.0.0.1", 80)), MS / 2, 0));
    let syn = change(
        10 * S + 1_100_000,
        curl.0,
        curl.1,
        CURL_SOCK,
        1001,
        "CLOSE",
        "SYN_SENT",
        (0, 0),
    );
    v.push(ends(syn, "127.0.0.1", 0, "127.0.0.1", 80));
    v.push(n(change(
        10 * S + 1_200_000,
        swapper.0,
        swapper.1,
        NGINX_SOCK,
        0,
        "CLOSE",
        "SYN_RECV",
        (0, 0),
    )));
    v.push(c(change(
        10 * S + 1_300_000,
        swapper.0,
        swapper.1,
        CURL_SOCK,
        1001,
        "SYN_SENT",
        "ESTABLISHED",
        (0, 0),
    )));
    v.push(n(change(
        10 * S + 1_300_000,
        swapper.0,
        swapper.1,
        NGINX_SOCK,
        0,
        "SYN_RECV",
        "ESTABLISHED",
        (0, 0),
    )));
    let mut accept = tcp4(task(Accept4, 9 * S + 500 * MS, nginx.0, nginx.1));
    accept.fd = 3;
    accept.fd2 = 5;
    accept.inode = 2001;
    accept.sock = NGINX_SOCK;
    v.push(call(
        n(sockaddr(accept, "127.0.0.1", 40000)),
        501_400_000,
        5,
    ));
    v.push(message(Send, 10 * S + 2 * MS, curl.0, curl.1, 1001, 100));
    v.push(message(
        Recv,
        10 * S + 2_100_000,
        nginx.0,
        nginx.1,
        2001,
        100,
    ));
    v.push(message(
        Send,
        10 * S + 2_500_000,
        nginx.0,
        nginx.1,
        2001,
        8000,
    ));
    v.push(message(Recv, 10 * S + 3 * MS, curl.0, curl.1, 1001, 5000));
    v.push(message(
        Recv,
        10 * S + 3_500_000,
        curl.0,
        curl.1,
        1001,
        3000,
    ));
    v.push(c(change(
        10 * S + 101 * MS,
        curl.0,
        curl.1,
        CURL_SOCK,
        1001,
        "ESTABLISHED",
        "FIN_WAIT1",
        (100, 8000),
    )));
    v.push(n(change(
        10 * S + 101_500_000,
        swapper.0,
        swapper.1,
        NGINX_SOCK,
        2001,
        "ESTABLISHED",
        "CLOSE_WAIT",
        (8000, 100),
    )));
    v.push(c(change(
        10 * S + 102 * MS,
        swapper.0,
        swapper.1,
        CURL_SOCK,
        1001,
        "FIN_WAIT1",
        "FIN_WAIT2",
        (100, 8000),
    )));
    v.push(c(change(
        10 * S + 103 * MS,
        swapper.0,
        swapper.1,
        CURL_SOCK,
        1001,
        "FIN_WAIT2",
        "CLOSE",
        (100, 8000),
    )));
    v.push(n(change(
        10 * S + 104 * MS,
        nginx.0,
        nginx.1,
        NGINX_SOCK,
        2001,
        "CLOSE_WAIT",
        "LAST_ACK",
        (8000, 100),
    )));
    v.push(n(change(
        10 * S + 105 * MS,
        swapper.0,
        swapper.1,
        NGINX_SOCK,
        2001,
        "LAST_ACK",
        "CLOSE",
        (8000, 100),
    )));

    // curl (101): refused, over IPv6.
    let six = |ev| inet(ev, 10, 1, 6);
    let r = |ev| ends(six(ev), "::1", 50000, "::1", 81);
    let mut connect = task(Connect, 11 * S, 101, "curl");
    connect.fd = 3;
    connect.inode = 1002;
    connect.sock = REFUSED_SOCK;
    v.push(call(r(sockaddr(connect, "::1", 81)), 200_000, -111));
    v.push(r(change(
        11 * S + 10_000,
        101,
        "curl",
        REFUSED_SOCK,
        1002,
        "CLOSE",
        "SYN_SENT",
        (0, 0),
    )));
    v.push(r(change(
        11 * S + 100_000,
        101,
        "curl",
        REFUSED_SOCK,
        1002,
        "SYN_SENT",
        "CLOSE",
        (0, 0),
    )));

    // app (102): non-blocking, on curl's old sock address.
    let a = |ev| ends(ev, "127.0.0.1", 40002, "127.0.0.1", 8080);
    let mut connect = tcp4(task(Connect, 12 * S, 102, "app"));
    connect.fd = 7;
    connect.inode = 1003;
    connect.sock = CURL_SOCK;
    v.push(call(a(sockaddr(connect, "127.0.0.1", 8080)), 10_000, -115));
    v.push(a(change(
        12 * S + 5_000,
        102,
        "app",
        CURL_SOCK,
        1003,
        "CLOSE",
        "SYN_SENT",
        (0, 0),
    )));
    v.push(a(change(
        12 * S + 2 * MS,
        swapper.0,
        swapper.1,
        CURL_SOCK,
        1003,
        "SYN_SENT",
        "ESTABLISHED",
        (0, 0),
    )));
    v.push(message(Recv, 12 * S + 10 * MS, 102, "app", 1003, 10));
    let mut retransmit = a(tcp4(task(TcpRetransmit, 12 * S + 500 * MS, 0, "swapper/1")));
    retransmit.sock = CURL_SOCK;
    retransmit.inode = 1003;
    retransmit.state = state_no("ESTABLISHED");
    v.push(retransmit);

    // dig (103): UDP.
    let mut connect = inet(task(Connect, 13 * S, 103, "dig"), 2, 2, 17);
    connect.fd = 3;
    connect.inode = 1004;
    v.push(call(sockaddr(connect, "8.8.8.8", 53), 5_000, 0));
    v
}

/// The capture of [`events`] at `dir/NAME.parquet`, of `host`.
fn write_capture(dir: &Path, name: &str, host: &str) -> PathBuf {
    let path = dir.join(format!("{name}.parquet"));
    let meta = CaptureMeta {
        host: host.into(),
        kernel: "6.1.0-test".into(),
        boot_time_ns: BOOT,
        start_ns: BOOT + 9 * S as i64,
        sockrec_version: "test".into(),
        lost: vec![0],
        ..CaptureMeta::default()
    };
    let mut w = CaptureWriter::create(&path, true, meta).unwrap();
    for ev in events() {
        w.push(&ev, "test");
    }
    w.finish().unwrap();
    path
}

fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockrec-analyzer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn capture() -> String {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let path = ONCE.get_or_init(|| write_capture(&dir(), "h1", "h1"));
    path.display().to_string()
}

/// `sockrec query NAME -i INPUTS --format FORMAT`.
fn report(name: &str, inputs: &[String], format: Format) -> String {
    let r = reports::find(name).unwrap_or_else(|| panic!("no report {name}"));
    let mut out = Vec::new();
    sockrec_analyzer::run(
        inputs,
        &Query::Report(r),
        Some(format),
        Limits::default(),
        &Params::default(),
        &mut out,
    )
    .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    String::from_utf8(out).unwrap()
}

fn tool(name: &str) -> String {
    report(name, &[capture()], Format::Tool)
}

fn csv(name: &str) -> String {
    report(name, &[capture()], Format::Csv)
}

/// `name`'s tool and CSV output over the capture are `tool` and `csv`
/// (each written after a newline, which is not part of it).
fn check(name: &str, tool_want: &str, csv_want: &str) {
    let (tool_want, csv_want) = (&tool_want[1..], &csv_want[1..]);
    let got = tool(name);
    assert_eq!(got, tool_want, "{name} tool:\n{got}");
    let got = csv(name);
    assert_eq!(got, csv_want, "{name} csv:\n{got}");
}

#[test]
fn tcplife() {
    check(
        "tcplife",
        r#"
PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS
100   curl       127.0.0.1       40000 127.0.0.1       80        0     7 101
200   nginx      127.0.0.1       80    127.0.0.1       40000     7     0 103
101   curl       ::1             50000 ::1             81        0     0 0
"#,
        r#"
time,host,pid,comm,laddr,lport,raddr,rport,tx_kb,rx_kb,ms,tx_bytes,rx_bytes,ns
2025-12-01T00:00:10.103Z,h1,100,curl,127.0.0.1,40000,127.0.0.1,80,0,7,101,100,8000,101900000
2025-12-01T00:00:10.105Z,h1,200,nginx,127.0.0.1,80,127.0.0.1,40000,7,0,103,8000,100,103800000
2025-12-01T00:00:11.000100Z,h1,101,curl,::1,50000,::1,81,0,0,0,0,0,90000
"#,
    );
}

#[test]
fn tcpstates() {
    check(
        "tcpstates",
        r#"
SKADDR           C-PID C-COMM     LADDR           LPORT RADDR           RPORT OLDSTATE    -> NEWSTATE    MS
ffff888000002000 200   nginx      127.0.0.1       80    -               -     CLOSE       -> LISTEN      0.000
ffff888000001000 100   curl       127.0.0.1       0     127.0.0.1       80    CLOSE       -> SYN_SENT    0.000
ffff888000003000 0     swapper/1  127.0.0.1       80    127.0.0.1       40000 CLOSE       -> SYN_RECV    0.000
ffff888000001000 0     swapper/1  127.0.0.1       40000 127.0.0.1       80    SYN_SENT    -> ESTABLISHED 0.200
ffff888000003000 0     swapper/1  127.0.0.1       80    127.0.0.1       40000 SYN_RECV    -> ESTABLISHED 0.100
ffff888000001000 100   curl       127.0.0.1       40000 127.0.0.1       80    ESTABLISHED -> FIN_WAIT1   99.700
ffff888000003000 0     swapper/1  127.0.0.1       80    127.0.0.1       40000 ESTABLISHED -> CLOSE_WAIT  100.200
ffff888000001000 0     swapper/1  127.0.0.1       40000 127.0.0.1       80    FIN_WAIT1   -> FIN_WAIT2   1.000
ffff888000001000 0     swapper/1  127.0.0.1       40000 127.0.0.1       80    FIN_WAIT2   -> CLOSE       1.000
ffff888000003000 200   nginx      127.0.0.1       80    127.0.0.1       40000 CLOSE_WAIT  -> LAST_ACK    2.500
ffff888000003000 0     swapper/1  127.0.0.1       80    127.0.0.1       40000 LAST_ACK    -> CLOSE       1.000
ffff888000004000 101   curl       ::1             50000 ::1             81    CLOSE       -> SYN_SENT    0.000
ffff888000004000 101   curl       ::1             50000 ::1             81    SYN_SENT    -> CLOSE       0.090
ffff888000001000 102   app        127.0.0.1       40002 127.0.0.1       8080  CLOSE       -> SYN_SENT    0.000
ffff888000001000 0     swapper/1  127.0.0.1       40002 127.0.0.1       8080  SYN_SENT    -> ESTABLISHED 1.995
"#,
        r#"
time,host,skaddr,c_pid,c_comm,ip,laddr,lport,raddr,rport,oldstate,newstate,ms
2025-12-01T00:00:09Z,h1,ffff888000002000,200,nginx,4,127.0.0.1,80,,,CLOSE,LISTEN,0.0
2025-12-01T00:00:10.001100Z,h1,ffff888000001000,100,curl,4,127.0.0.1,0,127.0.0.1,80,CLOSE,SYN_SENT,0.0
2025-12-01T00:00:10.001200Z,h1,ffff888000003000,0,swapper/1,4,127.0.0.1,80,127.0.0.1,40000,CLOSE,SYN_RECV,0.0
2025-12-01T00:00:10.001300Z,h1,ffff888000001000,0,swapper/1,4,127.0.0.1,40000,127.0.0.1,80,SYN_SENT,ESTABLISHED,0.2
2025-12-01T00:00:10.001300Z,h1,ffff888000003000,0,swapper/1,4,127.0.0.1,80,127.0.0.1,40000,SYN_RECV,ESTABLISHED,0.1
2025-12-01T00:00:10.101Z,h1,ffff888000001000,100,curl,4,127.0.0.1,40000,127.0.0.1,80,ESTABLISHED,FIN_WAIT1,99.7
2025-12-01T00:00:10.101500Z,h1,ffff888000003000,0,swapper/1,4,127.0.0.1,80,127.0.0.1,40000,ESTABLISHED,CLOSE_WAIT,100.2
2025-12-01T00:00:10.102Z,h1,ffff888000001000,0,swapper/1,4,127.0.0.1,40000,127.0.0.1,80,FIN_WAIT1,FIN_WAIT2,1.0
2025-12-01T00:00:10.103Z,h1,ffff888000001000,0,swapper/1,4,127.0.0.1,40000,127.0.0.1,80,FIN_WAIT2,CLOSE,1.0
2025-12-01T00:00:10.104Z,h1,ffff888000003000,200,nginx,4,127.0.0.1,80,127.0.0.1,40000,CLOSE_WAIT,LAST_ACK,2.5
2025-12-01T00:00:10.105Z,h1,ffff888000003000,0,swapper/1,4,127.0.0.1,80,127.0.0.1,40000,LAST_ACK,CLOSE,1.0
2025-12-01T00:00:11.000010Z,h1,ffff888000004000,101,curl,6,::1,50000,::1,81,CLOSE,SYN_SENT,0.0
2025-12-01T00:00:11.000100Z,h1,ffff888000004000,101,curl,6,::1,50000,::1,81,SYN_SENT,CLOSE,0.09
2025-12-01T00:00:12.000005Z,h1,ffff888000001000,102,app,4,127.0.0.1,40002,127.0.0.1,8080,CLOSE,SYN_SENT,0.0
2025-12-01T00:00:12.002Z,h1,ffff888000001000,0,swapper/1,4,127.0.0.1,40002,127.0.0.1,8080,SYN_SENT,ESTABLISHED,1.995
"#,
    );
}

#[test]
fn tcpretrans() {
    check(
        "tcpretrans",
        r#"
Tracing tcp retransmits.
TIME     PID               LADDR:LPORT           RADDR:RPORT       STATE
00:00:12 102           127.0.0.1:40002        127.0.0.1:8080 ESTABLISHED
"#,
        r#"
time,host,pid,comm,laddr,lport,raddr,rport,state
2025-12-01T00:00:12.500Z,h1,102,app,127.0.0.1,40002,127.0.0.1,8080,ESTABLISHED
"#,
    );
}

#[test]
fn tcpconnect() {
    check(
        "tcpconnect",
        r#"
TIME     PID    COMM             IP  SADDR           DADDR           DPORT
00:00:10 100    curl             4   127.0.0.1       127.0.0.1       80
00:00:11 101    curl             6   ::1             ::1             81
00:00:12 102    app              4   127.0.0.1       127.0.0.1       8080
"#,
        r#"
time,host,pid,comm,ip,saddr,daddr,dport,lport
2025-12-01T00:00:10.001100Z,h1,100,curl,4,127.0.0.1,127.0.0.1,80,0
2025-12-01T00:00:11.000010Z,h1,101,curl,6,::1,::1,81,50000
2025-12-01T00:00:12.000005Z,h1,102,app,4,127.0.0.1,127.0.0.1,8080,40002
"#,
    );
}

#[test]
fn tcpaccept() {
    check(
        "tcpaccept",
        r#"
Tracing TCP accepts.
TIME     PID    COMM           RADDR                                   RPORT LADDR                                   LPORT BL
00:00:10 200    nginx          127.0.0.1                               40000 127.0.0.1                               80    511
"#,
        r#"
time,host,pid,comm,raddr,rport,laddr,lport,bl
2025-12-01T00:00:10.001400Z,h1,200,nginx,127.0.0.1,40000,127.0.0.1,80,511
"#,
    );
}

#[test]
fn tcpconnlat() {
    check(
        "tcpconnlat",
        r#"
PID     COMM         IP SADDR            DADDR            DPORT LAT(ms)
100     curl         4  127.0.0.1        127.0.0.1        80    0.30
102     app          4  127.0.0.1        127.0.0.1        8080  2.00
"#,
        r#"
time,host,pid,comm,ip,saddr,daddr,dport,lat_ms,lport,lat_ns
2025-12-01T00:00:10.001Z,h1,100,curl,4,127.0.0.1,127.0.0.1,80,0.3,40000,300000
2025-12-01T00:00:12Z,h1,102,app,4,127.0.0.1,127.0.0.1,8080,2.0,40002,2000000
"#,
    );
}

#[test]
fn solisten() {
    check(
        "solisten",
        r#"
PID     COMM         PROTO  BACKLOG  PORT  ADDR
200     nginx        TCPv4  511      80    127.0.0.1
"#,
        r#"
time,host,pid,comm,proto,backlog,port,addr,errno
2025-12-01T00:00:09Z,h1,200,nginx,TCPv4,511,80,127.0.0.1,
"#,
    );
}

#[test]
fn soaccept() {
    check(
        "soaccept",
        r#"
PID    PROCESS          FAM ADDRESS          PORT  RESULT
200    nginx            2   127.0.0.1        40000 Success
"#,
        r#"
time,host,pid,process,fam,address,port,result,errno
2025-12-01T00:00:09.500Z,h1,200,nginx,2,127.0.0.1,40000,Success,
"#,
    );
}

#[test]
fn socketio() {
    check(
        "socketio",
        r#"
@io[app, 102, read, TCP, 8080]: 1
@io[curl, 100, write, TCP, 80]: 1
@io[nginx, 200, read, TCP, 40000]: 1
@io[nginx, 200, write, TCP, 40000]: 1
@io[curl, 100, read, TCP, 80]: 2

"#,
        r#"
map,host,comm,pid,dir,protocol,port,count
io,h1,app,102,read,TCP,8080,1
io,h1,curl,100,write,TCP,80,1
io,h1,nginx,200,read,TCP,40000,1
io,h1,nginx,200,write,TCP,40000,1
io,h1,curl,100,read,TCP,80,2
"#,
    );
}

#[test]
fn udpconnect() {
    check(
        "udpconnect",
        r#"
TIME     PID    COMM             IP RADDR            RPORT
00:00:13 103    dig              4  8.8.8.8          53
"#,
        r#"
time,host,pid,comm,ip,raddr,rport,errno
2025-12-01T00:00:13Z,h1,103,dig,4,8.8.8.8,53,
"#,
    );
}

#[test]
fn tcptop() {
    check(
        "tcptop",
        r#"
00:00:11

PID     COMM         LADDR                 RADDR                  RX_KB  TX_KB
100     curl         127.0.0.1:40000       127.0.0.1:80               7      0
200     nginx        127.0.0.1:80          127.0.0.1:40000            0      7

00:00:13

PID     COMM         LADDR                 RADDR                  RX_KB  TX_KB
102     app          127.0.0.1:40002       127.0.0.1:8080             0      0
"#,
        r#"
time,host,ip,pid,comm,laddr,lport,raddr,rport,rx_kb,tx_kb,rx_bytes,tx_bytes
2025-12-01T00:00:11Z,h1,4,100,curl,127.0.0.1,40000,127.0.0.1,80,7,0,8000,100
2025-12-01T00:00:11Z,h1,4,200,nginx,127.0.0.1,80,127.0.0.1,40000,0,7,100,8000
2025-12-01T00:00:13Z,h1,4,102,app,127.0.0.1,40002,127.0.0.1,8080,0,0,10,0
"#,
    );
}

#[test]
fn socksize() {
    check(
        "socksize",
        r#"
@read_bytes[app]: 
[8, 16)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@read_bytes[nginx]: 
[64, 128)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@read_bytes[curl]: 
[2K, 4K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4K, 8K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@write_bytes[curl]: 
[64, 128)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@write_bytes[nginx]: 
[4K, 8K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"#,
        r#"
map,host,comm,low,high,count
read_bytes,h1,app,8,16,1
read_bytes,h1,nginx,64,128,1
read_bytes,h1,curl,2048,4096,1
read_bytes,h1,curl,4096,8192,1
write_bytes,h1,curl,64,128,1
write_bytes,h1,nginx,4096,8192,1
"#,
    );
}

#[test]
fn soconnlat() {
    check(
        "soconnlat",
        r#"
Tracing IP connect() latency.
@us[app]: 
[1K, 2K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@us[dig]: 
[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@us[curl]: 
[128, 256)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[256, 512)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"#,
        r#"
map,host,comm,low,high,count
us,h1,app,1024,2048,1
us,h1,dig,4,8,1
us,h1,curl,128,256,1
us,h1,curl,256,512,1
"#,
    );
}

#[test]
fn so1stbyte() {
    check(
        "so1stbyte",
        r#"
Tracing IP socket first-read-byte latency.
@us[app, 102]: 
[8K, 16K)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@us[curl, 100]: 
[1K, 2K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"#,
        r#"
map,host,comm,pid,low,high,count
us,h1,app,102,8192,16384,1
us,h1,curl,100,1024,2048,1
"#,
    );
}

/// `DUMP=DIR cargo test -p sockrec-analyzer --test connections` writes every
/// report's tool and CSV output to DIR (to review a change, or for the
/// samples in docs/queries.md).
#[test]
fn dump() {
    let Ok(out) = std::env::var("DUMP") else {
        return;
    };
    for r in sockrec_analyzer::REPORTS {
        std::fs::write(format!("{out}/{}.tool", r.name), tool(r.name)).unwrap();
        std::fs::write(format!("{out}/{}.csv", r.name), csv(r.name)).unwrap();
    }
}

/// Two hosts' captures together: tables name the HOST first, maps and
/// histograms key by host first (PIDs and sockets are per host), and
/// nothing of one host's sockets is joined with the other's.
#[test]
fn several_hosts() {
    let h2 = write_capture(&dir(), "h2", "h2").display().to_string();
    let both = [capture(), h2];
    let out = report("tcplife", &both, Format::Tool);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "{out}");
    assert!(lines[0].starts_with("HOST PID   COMM       LADDR"), "{out}");
    assert!(lines[1].starts_with("h1   100   curl "), "{out}");
    assert!(lines[2].starts_with("h2   100   curl "), "{out}");
    let out = report("tcpretrans", &both, Format::Csv);
    assert_eq!(
        out.lines().filter(|l| l.contains(",102,app,")).count(),
        2,
        "{out}"
    );
    let out = report("socksize", &both, Format::Tool);
    assert!(out.starts_with("@read_bytes[h1, app]: \n"), "{out}");
    let out = report("socketio", &both, Format::Tool);
    assert!(
        out.starts_with("@io[h1, app, 102, read, TCP, 8080]: 1\n"),
        "{out}"
    );
}

/// tcptop's intervals are `--interval` long, on the wall clock: with 5 s,
/// 00:00:10-15 holds every session, printed at its end.
#[test]
fn tcptop_interval() {
    let r = reports::find("tcptop").unwrap();
    let mut out = Vec::new();
    let params = Params {
        interval_ns: 5 * S as i64,
    };
    sockrec_analyzer::run(
        &[capture()],
        &Query::Report(r),
        None,
        Limits::default(),
        &params,
        &mut out,
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out,
        "00:00:15

PID     COMM         LADDR                 RADDR                  RX_KB  TX_KB
100     curl         127.0.0.1:40000       127.0.0.1:80               7      0
200     nginx        127.0.0.1:80          127.0.0.1:40000            0      7
102     app          127.0.0.1:40002       127.0.0.1:8080             0      0
"
    );
}

/// A report that needs format v2's columns, on a v1 capture: one line that
/// names the report, the capture and the column.
#[test]
fn v1_capture_lacks_columns() {
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/host-a.parquet");
    let v1 = v1.display().to_string();
    for r in sockrec_analyzer::REPORTS
        .iter()
        .filter(|r| !r.needs.is_empty())
    {
        let mut out = Vec::new();
        let err = sockrec_analyzer::run(
            &[capture(), v1.clone()],
            &Query::Report(r),
            None,
            Limits::default(),
            &Params::default(),
            &mut out,
        )
        .unwrap_err();
        let text = format!("{err:#}");
        let want = format!(
            "{}: {v1} has no column {:?} (capture format version 1); {} needs a capture of version 2 or later, recorded by a newer sockrec",
            r.name, r.needs[0], r.name
        );
        assert_eq!(text, want);
        assert!(out.is_empty());
    }
}
