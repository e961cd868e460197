//! `cargo xtask fixtures` (as root): records the captures in `fixtures/`
//! with the dev-profile `sockrec record`, around a scripted workload whose
//! every socket call is known, and writes what the workload did to
//! `fixtures/known.toml` (and a summary to `fixtures/README.md`). The
//! snapshot tests (tests/integration/query.rs) check the reports against
//! those counts, so the expectations always come from the workload that
//! made the captures, never from hand-typed numbers.
//!
//! Each capture is recorded in its own UTS namespace (`unshare --uts`) with
//! a fixed host name, so two captures stand for two hosts and the files
//! don't carry the name of the machine that regenerated them.
//!
//! The workload is this xtask binary again (`fixtures workload PLAN`),
//! started before the recorder so that `--pid` can name it; it makes its
//! socket calls in a thread called [`COMM`] (the recorder's `--comm`
//! filter, so the main thread's pipe I/O with us stays out of the capture),
//! with std::net and std::os::unix::net only, on loopback, and prints a
//! tally of what it did: every call it makes is one event.

use anyhow::{Context as _, Result, bail};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::Write as _,
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::fs::PermissionsExt as _,
        unix::net::{UnixDatagram, UnixListener, UnixStream},
    },
    path::Path,
    process::Command,
    time::Duration,
};

use sockrec_devkit::{Recorder, Workload, workload::ready_then_wait_for_go};

/// The workload thread's name: what the captures' `comm` column says.
const COMM: &str = "sockrec-fixture";

/// What one workload does; each count is a number of connections or
/// socket pairs.
#[derive(Clone, Copy)]
struct Plan {
    /// TCP over IPv4: connect, accept, 100 bytes each way... (see `run_plan`).
    tcp4: u32,
    tcp6: u32,
    /// UDP sockets connected to one server, one 64-byte datagram each.
    udp: u32,
    /// UNIX stream connections, 50 bytes client to server.
    unix: u32,
    /// Connects to 127.0.0.1:1, where nothing listens: ECONNREFUSED.
    refused: u32,
    /// A stream and a datagram socketpair, with one message each, per unit.
    pairs: u32,
    /// Close stdin before the first TCPv4 accept, so that it returns fd 0.
    accept_fd0: bool,
    /// Take the first TCPv6 connection with accept(2) and a NULL address
    /// (the original sofamily drops those; sockrec counts them by the
    /// socket's own family).
    accept_null: bool,
    /// Recorded by the sockrec of capture format 1 and kept as it was, to
    /// check that such captures still open: not recorded again (its
    /// `known.toml` table is kept as it is).
    format1: bool,
}

/// The captures: file stem, host name, plan.
const FIXTURES: &[(&str, &str, Plan)] = &[
    (
        "host-a",
        "fixture-a",
        Plan {
            tcp4: 5,
            tcp6: 3,
            udp: 4,
            unix: 2,
            refused: 1,
            pairs: 1,
            accept_fd0: true,
            accept_null: true,
            format1: true,
        },
    ),
    (
        "host-b",
        "fixture-b",
        Plan {
            tcp4: 2,
            tcp6: 1,
            udp: 1,
            unix: 1,
            refused: 1,
            pairs: 0,
            accept_fd0: false,
            accept_null: false,
            format1: true,
        },
    ),
    (
        "empty",
        "fixture-a",
        Plan {
            tcp4: 0,
            tcp6: 0,
            udp: 0,
            unix: 0,
            refused: 0,
            pairs: 0,
            accept_fd0: false,
            accept_null: false,
            format1: true,
        },
    ),
    // Format 2: the connection reports' fixture.
    (
        "connections",
        "fixture-c",
        Plan {
            tcp4: 3,
            tcp6: 1,
            udp: 1,
            unix: 1,
            refused: 1,
            pairs: 0,
            accept_fd0: false,
            accept_null: false,
            format1: false,
        },
    ),
];

/// `cargo xtask fixtures [workload NAME]`.
pub fn main(args: &[&str]) -> Result<()> {
    match args {
        [] => record_all(),
        ["workload", name] => workload_main(plan_of(name)?),
        _ => bail!("usage: cargo xtask fixtures"),
    }
}

fn plan_of(name: &str) -> Result<Plan> {
    FIXTURES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, p)| *p)
        .with_context(|| format!("no fixture {name:?}"))
}

fn record_all() -> Result<()> {
    if crate::unsafe_geteuid() != 0 {
        bail!("recording needs root: sudo -E cargo xtask fixtures");
    }
    crate::setup()?;
    let root = crate::root();
    // The dev build, as the tests use: a few hundred events need no
    // optimiser, and it spares a release build of DataFusion.
    crate::run(
        Command::new("cargo")
            .current_dir(&root)
            .args(["build", "--bin", "sockrec"]),
    )?;
    let sockrec = crate::target_dir(&root).join("debug/sockrec");
    let dir = root.join("fixtures");
    std::fs::create_dir_all(&dir)?;

    // The format 1 fixtures' tables, kept as they are.
    let old: toml::Table = std::fs::read_to_string(dir.join("known.toml"))
        .ok()
        .and_then(|t| toml::from_str(&t).ok())
        .unwrap_or_default();
    let mut known = toml::Table::new();
    let mut readme_rows = String::new();
    for (name, host, plan) in FIXTURES {
        let events = if plan.format1 {
            let entry = old
                .get(*name)
                .with_context(|| format!("known.toml has no [{name}] to keep"))?;
            known.insert(name.to_string(), entry.clone());
            entry
                .get("events")
                .and_then(toml::Value::as_integer)
                .unwrap_or(0) as u64
        } else {
            let file = dir.join(format!("{name}.parquet"));
            let (pid, tally) = record_one(&sockrec, &file, host, name)?;
            // The recorder writes 0600; fixtures are for everyone.
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
            known.insert(
                name.to_string(),
                known_entry(name, host, pid, &tally)?.into(),
            );
            tally.events
        };
        let _ = writeln!(
            readme_rows,
            "| `{name}.parquet` | {} | {host} | {} | {} | {} | {} | {} | {} | {events} |",
            if plan.format1 { 1 } else { 2 },
            plan.tcp4,
            plan.tcp6,
            plan.udp,
            plan.unix,
            plan.refused,
            plan.pairs * 2,
        );
    }
    std::fs::write(
        dir.join("known.toml"),
        format!("{KNOWN_HEADER}\n{}", toml::to_string(&known)?),
    )?;
    std::fs::write(dir.join("README.md"), readme(&readme_rows))?;
    eprintln!("fixtures: wrote {}", dir.display());
    Ok(())
}

const KNOWN_HEADER: &str = "\
# Written by `cargo xtask fixtures` (xtask/src/fixtures.rs): for each capture
# in this directory, what its workload did, counted by the workload as it
# made each call, in the terms of the built-in reports. The query tests
# (tests/integration/query.rs) check `sockrec query` against these counts.
";

/// `name`'s table in `known.toml`: `[host-a]` with the capture's file, host,
/// comm, workload pid and event count, and under it a table of counts per
/// report (`[host-a.sofamily]`, `"@accept[sockrec-fixture, 2, AF_INET]" = 5`).
fn known_entry(name: &str, host: &str, pid: u32, t: &Tally) -> Result<toml::Table> {
    let int = |n: u64| i64::try_from(n).map(toml::Value::Integer);
    let mut entry = toml::Table::new();
    entry.insert("file".into(), format!("{name}.parquet").into());
    entry.insert("host".into(), host.into());
    entry.insert("comm".into(), COMM.into());
    entry.insert("pid".into(), i64::from(pid).into());
    entry.insert("events".into(), int(t.events)?);
    for (section, map) in [
        ("sockstat", &t.sockstat),
        ("sofamily", &t.sofamily),
        ("soprotocol", &t.soprotocol),
        ("soconnect", &t.soconnect),
        ("bytes", &t.bytes),
        ("tcplife", &t.tcplife),
    ] {
        if map.is_empty() {
            continue;
        }
        let counts = map
            .iter()
            .map(|(k, v)| Ok((k.clone(), int(*v)?)))
            .collect::<Result<toml::Table, std::num::TryFromIntError>>()?;
        entry.insert(section.into(), counts.into());
    }
    Ok(entry)
}

/// Records `name`'s workload into `file` on host `host`; returns the
/// workload's pid and tally.
fn record_one(sockrec: &Path, file: &Path, host: &str, name: &str) -> Result<(u32, Tally)> {
    let mut workload = Workload::start(
        Command::new(std::env::current_exe()?).args(["fixtures", "workload", name]),
    )?;
    let pid = workload.pid();

    // unshare without --fork execs: the recorder keeps this child's pid,
    // so the SIGINT below reaches it.
    let mut rec = Command::new("unshare");
    rec.args(["--uts", "sh", "-c", "hostname \"$0\" && exec \"$@\"", host])
        .arg(sockrec)
        .args(["record", "--quiet", "--force", "-o"])
        .arg(file)
        .args(["--pid", &pid.to_string(), "--comm", COMM]);
    eprintln!("+ {rec:?}");
    // From its "recording to" line on, nothing is missed.
    let rec = Recorder::start(&mut rec, Duration::from_secs(60))?;

    workload.go()?;
    let report = workload
        .finish()
        .with_context(|| format!("workload {name}"))?;
    let tally = Tally::parse(&report.join("\n"))?;
    // Let the ring buffer drain before stopping (the recorder flushes what
    // it has on SIGINT anyway; this only keeps the fixtures unhurried).
    std::thread::sleep(Duration::from_millis(500));
    let stopped = rec.stop(libc::SIGINT)?.ok()?;
    eprintln!("{}", stopped.last_line());
    Ok((pid, tally))
}

fn readme(rows: &str) -> String {
    format!(
        "# Fixtures\n\
\n\
Small captures recorded by sockrec itself, for the query tests\n\
(`tests/integration/query.rs`). Regenerate them, as root, with\n\
\n\
```sh\n\
cargo xtask fixtures\n\
INSTA_UPDATE=always cargo test --test integration query::   # then review the snapshot diff\n\
```\n\
\n\
`cargo xtask fixtures` builds `sockrec` (dev profile), and for each capture\n\
of the current format (2: `connections.parquet`; the format 1 captures\n\
`host-a`, `host-b` and `empty` were recorded by the sockrec of format 1\n\
and are kept as they are, to check that such captures still open, with\n\
their tables of `known.toml`)\n\
starts a scripted workload (`xtask/src/fixtures.rs`: std::net and\n\
std::os::unix::net on loopback, in a thread named `{COMM}`) and records it\n\
with `sockrec record --pid PID --comm {COMM}` in a UTS namespace whose host\n\
name is the one below. The workload counts every call as it makes it\n\
(`events`: its calls and messages, not the TCP state changes of format 2,\n\
which the kernel makes); those\n\
counts, in the reports' terms, are in [`known.toml`](known.toml), which the\n\
tests compare the reports with. This file and `known.toml` are written by\n\
the command: don't edit them.\n\
\n\
| capture | format | host | TCP/IPv4 | TCP/IPv6 | UDP | UNIX stream | refused | socketpairs | events |\n\
|---|---|---|---|---|---|---|---|---|---|\n\
{rows}\
\n\
Per connection: TCP, connect + accept4, then client → server and server →\n\
client messages (IPv4: 100 and 200 bytes, IPv6: 300 and 400); UDP, a client\n\
socket bound and connected to one server socket, one 64-byte datagram; UNIX\n\
stream, connect + accept4 on a listener in a temporary directory, 50 bytes;\n\
refused, a TCP connect to 127.0.0.1:1 (ECONNREFUSED). Socketpairs: stream\n\
pairs (10 bytes) and datagram pairs (20 bytes), as many of each. Every\n\
listener and server socket counts its socket and bind calls.\n\
\n\
In `host-a`, the workload closes its stdin before the first IPv4 accept,\n\
which therefore returns fd 0: sofamily counts it, where the original's\n\
`args->ret > 0` would not; and it takes its first IPv6 connection with\n\
accept(2) and a NULL address, which the original drops and sofamily counts\n\
under the listening socket's family. `empty.parquet` is a recording of a workload that\n\
made no call: 0 rows. In `connections`, the workload also notes each TCP\n\
session's ports and bytes each way (`[connections.tcplife]`), which the\n\
connection reports are checked against.\n"
    )
}

/// What the workload did, by report: key → count. Keys are the report
/// lines' keys (`@connect[comm, 2, AF_INET]`) so the tests compare
/// directly.
#[derive(Default)]
struct Tally {
    events: u64,
    sockstat: BTreeMap<String, u64>,
    sofamily: BTreeMap<String, u64>,
    soprotocol: BTreeMap<String, u64>,
    soconnect: BTreeMap<String, u64>,
    bytes: BTreeMap<String, u64>,
    /// Each TCP session's ends, `LPORT->RPORT tx` / `rx`, as seen from
    /// each socket: the bytes that socket wrote and read.
    tcplife: BTreeMap<String, u64>,
}

impl Tally {
    fn add(map: &mut BTreeMap<String, u64>, key: String, n: u64) {
        *map.entry(key).or_default() += n;
    }

    /// Parses the workload's report: `section<TAB>key<TAB>count` lines.
    fn parse(report: &str) -> Result<Tally> {
        let mut t = Tally::default();
        for line in report.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let [section, key, n] = f[..] else {
                bail!("bad workload line {line:?}");
            };
            let n: u64 = n.parse()?;
            let map = match section {
                "events" => {
                    t.events += n;
                    continue;
                }
                "sockstat" => &mut t.sockstat,
                "sofamily" => &mut t.sofamily,
                "soprotocol" => &mut t.soprotocol,
                "soconnect" => &mut t.soconnect,
                "bytes" => &mut t.bytes,
                "tcplife" => &mut t.tcplife,
                other => bail!("bad workload section {other:?}"),
            };
            Tally::add(map, key.to_string(), n);
        }
        Ok(t)
    }
}

// ---- The workload (child process) ----

use sockrec_capture::addr::{AF_INET, AF_INET6, AF_UNIX};
const TCP: u16 = 6;
const UDP: u16 = 17;

/// The workload's own count of its calls, printed for the parent.
struct Log(Vec<String>);

impl Log {
    fn line(&mut self, section: &str, key: String) {
        self.0.push(format!("{section}\t{key}\t1"));
    }

    fn sockstat(&mut self, probe: &str) {
        self.line("events", String::new());
        self.line("sockstat", probe.to_string());
    }

    fn socket(&mut self) {
        self.sockstat("tracepoint:syscalls:sys_enter_socket");
    }

    fn bind(&mut self) {
        self.sockstat("tracepoint:syscalls:sys_enter_bind");
    }

    /// listen(2): an event of its own since capture format 2 (sockstat
    /// does not count it).
    fn listen(&mut self) {
        self.line("events", String::new());
    }

    /// A TCP session between local ports `client` and `server` that
    /// carried `up` bytes to the server and `down` back: one line per
    /// direction of each end, as tcplife shows it.
    fn session(&mut self, client: u16, server: u16, up: usize, down: usize) {
        for (l, r, tx, rx) in [(client, server, up, down), (server, client, down, up)] {
            self.0.push(format!("tcplife\t{l}->{r} tx\t{tx}"));
            self.0.push(format!("tcplife\t{l}->{r} rx\t{rx}"));
        }
    }

    fn socketpair(&mut self) {
        self.sockstat("tracepoint:syscalls:sys_enter_socketpair");
    }

    fn send(&mut self, bytes: usize) {
        self.sockstat("kprobe:sock_sendmsg");
        self.0.push(format!("bytes\tsend\t{bytes}"));
    }

    fn recv(&mut self, bytes: usize) {
        self.sockstat("kprobe:sock_recvmsg");
        self.0.push(format!("bytes\trecv\t{bytes}"));
    }

    /// A connect to an address of `addr_family` on a socket of `family` and
    /// `protocol`, which failed with `err` (0: succeeded).
    fn connect(&mut self, addr_family: u16, family: u16, protocol: u16, err: &str) {
        self.sockstat("tracepoint:syscalls:sys_enter_connect");
        self.line(
            "sofamily",
            format!("@connect[{COMM}, {addr_family}, {}]", af(addr_family)),
        );
        self.line(
            "soprotocol",
            format!("@connect[{COMM}, {}]", proto(family, protocol)),
        );
        if addr_family == AF_INET || addr_family == AF_INET6 {
            self.line("soconnect", err.to_string());
        }
    }

    /// A successful accept4 (or `syscall` = accept) on a listener of
    /// `family`/`protocol`.
    fn accept(&mut self, syscall: &str, family: u16, protocol: u16) {
        self.sockstat(&format!("tracepoint:syscalls:sys_enter_{syscall}"));
        self.line(
            "sofamily",
            format!("@accept[{COMM}, {family}, {}]", af(family)),
        );
        self.line(
            "soprotocol",
            format!("@accept[{COMM}, {}]", proto(family, protocol)),
        );
    }
}

fn af(family: u16) -> &'static str {
    match family {
        AF_UNIX => "AF_UNIX",
        AF_INET => "AF_INET",
        AF_INET6 => "AF_INET6",
        _ => unreachable!(),
    }
}

/// soprotocol's keys after comm: `6, IPPROTO_TCP, TCP`.
fn proto(family: u16, protocol: u16) -> String {
    match (family, protocol) {
        (AF_UNIX, 0) => "0, IPPROTO_IP, UNIX".to_string(),
        (_, TCP) => "6, IPPROTO_TCP, TCP".to_string(),
        (_, UDP) => "17, IPPROTO_UDP, UDP".to_string(),
        _ => unreachable!(),
    }
}

/// The child: `ready`, wait for a line, run the plan in the [`COMM`]
/// thread, print the log, exit.
fn workload_main(plan: Plan) -> Result<()> {
    ready_then_wait_for_go()?;
    let log = std::thread::Builder::new()
        .name(COMM.to_string())
        .spawn(move || run_plan(plan))?
        .join()
        .map_err(|_| anyhow::anyhow!("workload thread panicked"))??;
    let mut out = std::io::stdout().lock();
    for line in log.0 {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn run_plan(plan: Plan) -> Result<Log> {
    let mut log = Log(Vec::new());
    let mut stdin_open = true;
    let mut accepted_null = false;
    for (n, ip, family, sizes) in [
        (plan.tcp4, "127.0.0.1", AF_INET, (100, 200)),
        (plan.tcp6, "::1", AF_INET6, (300, 400)),
    ] {
        if n == 0 {
            continue;
        }
        let listener = TcpListener::bind(SocketAddr::new(ip.parse()?, 0))?;
        log.socket();
        log.bind();
        log.listen();
        let addr = listener.local_addr()?;
        for _ in 0..n {
            let mut client = TcpStream::connect(addr)?;
            log.socket();
            log.connect(family, family, TCP, "Success");
            let fd0 = plan.accept_fd0 && stdin_open && family == AF_INET;
            if fd0 {
                // The lowest free fd is what accept returns: free 0.
                drop(unsafe { OwnedFd::from_raw_fd(0) });
                stdin_open = false;
            }
            let null_addr = plan.accept_null && family == AF_INET6 && !accepted_null;
            let mut server = if null_addr {
                accepted_null = true;
                accept_null_addr(&listener)?
            } else {
                listener.accept()?.0
            };
            let syscall = if null_addr { "accept" } else { "accept4" };
            log.accept(syscall, family, TCP);
            if fd0 && server.as_raw_fd() != 0 {
                bail!(
                    "accept after closing stdin returned fd {}",
                    server.as_raw_fd()
                );
            }
            exchange(&mut client, &mut server, sizes.0, &mut log)?;
            exchange(&mut server, &mut client, sizes.1, &mut log)?;
            log.session(client.local_addr()?.port(), addr.port(), sizes.0, sizes.1);
        }
    }

    if plan.udp > 0 {
        let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        log.socket();
        log.bind();
        for _ in 0..plan.udp {
            let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
            log.socket();
            log.bind();
            client.connect(server.local_addr()?)?;
            log.connect(AF_INET, AF_INET, UDP, "Success");
            client.send(&[7u8; 64])?;
            log.send(64);
            let mut buf = [0u8; 128];
            let n = server.recv(&mut buf)?;
            log.recv(n);
        }
    }

    if plan.unix > 0 {
        let dir = std::env::temp_dir().join(format!("sockrec-fixture-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("listener.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        log.socket();
        log.bind();
        log.listen();
        for _ in 0..plan.unix {
            let mut client = UnixStream::connect(&path)?;
            log.socket();
            log.connect(AF_UNIX, AF_UNIX, 0, "Success");
            let (mut server, _) = listener.accept()?;
            log.accept("accept4", AF_UNIX, 0);
            exchange(&mut client, &mut server, 50, &mut log)?;
        }
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }

    for _ in 0..plan.refused {
        let refused = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 1);
        log.socket();
        match TcpStream::connect(refused) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                log.connect(AF_INET, AF_INET, TCP, "Connection refused");
            }
            other => bail!("connect to {refused}: expected ECONNREFUSED, got {other:?}"),
        }
    }

    for _ in 0..plan.pairs {
        let (mut a, mut b) = UnixStream::pair()?;
        log.socketpair();
        exchange(&mut a, &mut b, 10, &mut log)?;
        let (a, b) = UnixDatagram::pair()?;
        log.socketpair();
        a.send(&[9u8; 20])?;
        log.send(20);
        let mut buf = [0u8; 64];
        let n = b.recv(&mut buf)?;
        log.recv(n);
    }
    Ok(log)
}

/// accept(2) itself (std uses accept4), with a NULL address and length.
fn accept_null_addr(listener: &TcpListener) -> Result<TcpStream> {
    // SAFETY: a listening socket we own; NULL address and length are
    // allowed by accept(2).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_accept,
            listener.as_raw_fd(),
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("accept(fd, NULL, NULL)");
    }
    // SAFETY: accept returned a new fd that nothing else owns.
    Ok(unsafe { TcpStream::from_raw_fd(fd as i32) })
}

/// One `write` of `n` bytes and one `read` of them (loopback delivers them
/// before write returns, so one read gets all).
fn exchange(
    from: &mut impl std::io::Write,
    to: &mut impl std::io::Read,
    n: usize,
    log: &mut Log,
) -> Result<()> {
    let data = vec![b'x'; n];
    let sent = from.write(&data)?;
    log.send(sent);
    if sent != n {
        bail!("short write: {sent} of {n}");
    }
    let mut buf = vec![0u8; n];
    let got = to.read(&mut buf)?;
    log.recv(got);
    if got != n {
        bail!("short read: {got} of {n}");
    }
    Ok(())
}
