//! Privileged tests: the real programs record a known workload.

use std::{os::unix::process::CommandExt as _, path::Path, process::Command, time::Duration};

use sockrec_devkit::{Recorder, Workload};

use crate::{
    capture::{self, Row},
    ensure, query,
    util::{self, TempDir, TestResult, Tests},
    workload::{self, Expected},
};

pub const TESTS: Tests = crate::tests![
    known_workload_exactly,
    retransmits_are_recorded,
    passive_connections_under_a_filter,
    known_workload_through_raw_tracepoints,
    known_workload_through_fallback_probes,
    known_workload_through_syscall_probes,
    probes_lists_the_plan,
    default_capture_name_and_mode,
    sigkill_leaves_readable_capture,
    kernel_filters_and_sigterm,
    without_privileges_fails_clearly,
    hostile_names_are_escaped,
    force_replaces_a_symlink,
    read_only_filesystem_fails_clearly,
    loss_is_counted,
    stalled_writer_counts_loss,
];

/// The workload child running `scenario` (see workload.rs), stopped at
/// `ready`, with `dir` for its files.
pub(crate) fn workload(scenario: &str, dir: &Path) -> Result<Workload, String> {
    Workload::start(
        Command::new(std::env::current_exe().unwrap())
            .env(workload::ENV, scenario)
            .env("SOCKREC_TEST_DIR", dir),
    )
    .map_err(text)
}

/// `sockrec record ARGS`, with the environment `env` added (to force
/// fallback probes, `SOCKREC_EXCLUDE_PROBES`, or code paths,
/// `SOCKREC_PRE_5_12`), past its "recording to" line.
fn recorder(args: &[&str], env: &[(&str, &str)]) -> Result<Recorder, String> {
    let mut cmd = util::sockrec();
    cmd.envs(env.iter().copied()).arg("record").args(args);
    Recorder::start(&mut cmd, Duration::from_secs(60)).map_err(text)
}

/// A devkit error as a test failure's message, with its causes.
pub(crate) fn text(e: anyhow::Error) -> String {
    format!("{e:#}")
}

fn expected_of(row: &Row) -> Expected {
    let msg = row.kind == "send" || row.kind == "recv";
    Expected {
        kind: row.kind.clone(),
        family: row.family,
        sock_type: row.sock_type,
        protocol: row.protocol,
        fd: row.fd,
        fd2: row.fd2,
        errno: row.errno,
        addr: row.addr.clone(),
        port: row.port,
        bytes: if msg { row.bytes } else { None },
        inode: row.inode,
        laddr: row.laddr.clone(),
        lport: row.lport,
        raddr: row.raddr.clone(),
        rport: row.rport,
        backlog: row.backlog,
    }
}

/// Whether a row is a TCP event (a state change or a retransmit), not a call
/// or a message the workload logs one by one.
fn is_tcp(row: &Row) -> bool {
    row.kind == "tcp_state" || row.kind == "tcp_retransmit"
}

/// Whether a row is one the workload's event log does not list: a TCP
/// event, or a socket's end (`close`, its own check).
fn is_life(row: &Row) -> bool {
    is_tcp(row) || row.kind == "close"
}

/// Every call of the known workload is in the capture, once, with the
/// socket's family/type/protocol, the address and port, errno and bytes,
/// and nothing else is; the call left blocked is kept as in flight.
fn known_workload_exactly() -> TestResult {
    let best = has_sock_length_tracepoints().then_some("tp_btf:sock_send_length");
    known_workload(&[], best)
}

/// A segment lost on the way and sent again is in the capture as a
/// `tcp_retransmit` row of the sender's socket, with both ends and the
/// state, although the kernel retransmits from a timer, in softirq, on
/// behalf of no task: with `-p PID` such rows are kept because the
/// socket's connect was (filter.rs's `should_trace_sock`).
fn retransmits_are_recorded() -> TestResult {
    let dir = TempDir::new("retransmit");
    let out = dir.path().join("r.parquet");
    let mut wl = workload("retransmit", dir.path())?;
    let pid = wl.pid().to_string();
    let rec = recorder(&["-o", out.to_str().unwrap(), "-p", &pid], &[])?;
    wl.go().map_err(text)?;
    let lines = wl.read_until("done").map_err(text)?;
    std::thread::sleep(Duration::from_millis(300));
    let stopped = rec.stop(libc::SIGINT).map_err(text)?;
    ensure!(
        stopped.success(),
        "sockrec record failed: {}",
        stopped.stderr_text()
    );
    let (lport, rport, inode): (u16, u16, u64) = lines
        .iter()
        .find_map(|l| {
            let f: Vec<&str> = l.strip_prefix("R\t")?.split('\t').collect();
            Some((f[0].parse().ok()?, f[1].parse().ok()?, f[2].parse().ok()?))
        })
        .ok_or_else(|| format!("the workload did not say what it sent: {lines:?}"))?;
    let cap = capture::read(&out)?;
    let connect = cap
        .rows
        .iter()
        .find(|r| r.kind == "connect" && r.inode == Some(inode))
        .ok_or("no connect of the sender")?;
    let retransmits: Vec<&Row> = cap
        .rows
        .iter()
        .filter(|r| r.kind == "tcp_retransmit")
        .collect();
    ensure!(
        !retransmits.is_empty(),
        "no tcp_retransmit row; TCP rows: {:#?}",
        cap.rows.iter().filter(|r| is_tcp(r)).collect::<Vec<_>>()
    );
    for r in &retransmits {
        ensure!(
            r.lport == Some(lport)
                && r.rport == Some(rport)
                && r.laddr.as_deref() == Some("127.0.0.1")
                && r.raddr.as_deref() == Some("127.0.0.1")
                && r.state.as_deref() == Some("ESTABLISHED")
                && r.sock == connect.sock
                && r.inode == Some(inode)
                && r.family == libc::AF_INET as u16,
            "retransmit of another socket, or wrong: {r:?}, want {lport} -> {rport}, inode {inode}"
        );
    }
    // tcpretrans lists them, attributed to the connection's owner (the
    // rows themselves are the interrupted task's, `swapper` mostly).
    let text = query::query_ok(&["tcpretrans", "-i", out.to_str().unwrap(), "--format", "csv"])?;
    let rows = query::csv_rows(&text);
    let want = format!(
        "{pid},{},127.0.0.1,{lport},127.0.0.1,{rport},ESTABLISHED",
        workload::COMM
    );
    let listed = rows
        .iter()
        .skip(1)
        .filter(|r| r[2..].join(",") == want)
        .count();
    ensure!(
        listed == retransmits.len(),
        "tcpretrans lists {listed} of {} retransmits as {want:?}:\n{text}",
        retransmits.len()
    );
    Ok(())
}

/// Under `-p PID`, a connection accepted by PID from another process is
/// recorded from its first state change, which the kernel makes in the
/// connecting process, before accept(2) says whose it is: kept because
/// PID's listen on that port was (filter.rs's `TRACED_PORTS`). tcplife
/// then gives the session to PID, the acceptor.
fn passive_connections_under_a_filter() -> TestResult {
    let dir = TempDir::new("passive");
    let out = dir.path().join("p.parquet");
    let mut wl = workload("passive", dir.path())?;
    let pid = wl.pid();
    let rec = recorder(&["-o", out.to_str().unwrap(), "-p", &pid.to_string()], &[])?;
    wl.go().map_err(text)?;
    let lines = wl.read_until("done").map_err(text)?;
    std::thread::sleep(Duration::from_millis(300));
    let stopped = rec.stop(libc::SIGINT).map_err(text)?;
    ensure!(
        stopped.success(),
        "sockrec record failed: {}",
        stopped.stderr_text()
    );
    let (inode, child): (u64, u32) = lines
        .iter()
        .find_map(|l| {
            let f: Vec<&str> = l.strip_prefix("P\t")?.split('\t').collect();
            Some((f[0].parse().ok()?, f[1].parse().ok()?))
        })
        .ok_or_else(|| format!("the workload did not say what it accepted: {lines:?}"))?;
    let cap = capture::read(&out)?;
    let accept = cap
        .rows
        .iter()
        .find(|r| r.kind == "accept" && r.inode == Some(inode))
        .ok_or("no accept")?;
    let births: Vec<&Row> = cap
        .rows
        .iter()
        .filter(|r| r.kind == "tcp_state" && r.sock == accept.sock)
        .filter(|r| {
            r.state.as_deref() == Some("SYN_RECV") || r.state.as_deref() == Some("ESTABLISHED")
        })
        .collect();
    ensure!(
        births.len() == 2,
        "the accepted socket's SYN_RECV and ESTABLISHED rows, want 2: {births:#?}"
    );
    ensure!(
        cap.rows.iter().all(|r| r.pid == pid || is_tcp(r)),
        "a call of another process recorded"
    );
    ensure!(
        births.iter().any(|r| r.pid != pid),
        "the births were all made in the workload (pid {pid}; the child is {child}): \
         not what this test is for: {births:#?}"
    );
    let life = query::query_ok(&["tcplife", "-i", out.to_str().unwrap(), "--format", "csv"])?;
    let port = accept.lport.ok_or("accept without its port")?;
    ensure!(
        query::csv_rows(&life)
            .iter()
            .any(|r| r.get(2) == Some(&pid.to_string()) && r.get(5) == Some(&port.to_string())),
        "tcplife has no session of {pid} on port {port}:\n{life}"
    );
    Ok(())
}

/// Whether this kernel has `sock:sock_send_length` (Linux 6.3+); before it,
/// messages come from the fexit or kprobe ways.
fn has_sock_length_tracepoints() -> bool {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .any(|t| Path::new(t).join("events/sock/sock_send_length").exists())
}

/// The same capture when messages and TCP state changes come from the raw
/// tracepoints (helpers and `bpf_probe_read_kernel` where the first way
/// has plain loads).
fn known_workload_through_raw_tracepoints() -> TestResult {
    let next = has_sock_length_tracepoints().then_some("rawtracepoint:sock_send_length");
    known_workload(
        &[(
            "SOCKREC_EXCLUDE_PROBES",
            "tp_btf:sock_send_length,tp_btf:sock_recv_length,\
             tp_btf:inet_sock_set_state,tp_btf:tcp_retransmit_skb",
        )],
        next,
    )
}

/// The same capture when messages come from the formatted tracepoints (the
/// way after those), as on a kernel without BTF or raw tracepoints.
fn known_workload_through_fallback_probes() -> TestResult {
    let next = has_sock_length_tracepoints().then_some("tracepoint:sock:sock_send_length");
    known_workload(
        &[(
            "SOCKREC_EXCLUDE_PROBES",
            "tp_btf:sock_send_length,tp_btf:sock_recv_length,\
             rawtracepoint:sock_send_length,rawtracepoint:sock_recv_length",
        )],
        next,
    )
}

/// The same capture when messages come from the plan's last resort, the
/// send/recv syscall tracepoints, every other way excluded: the known
/// workload sends with send(2) and receives with recv(2), which it sees.
/// The programs also run the code for kernels before 5.12 here
/// (`SOCKREC_PRE_5_12`: the task read through helpers, calls in progress
/// in the hash map), as a kernel that old would only have these ways.
fn known_workload_through_syscall_probes() -> TestResult {
    let mut exclude = Vec::new();
    for (tp, func, op) in [
        ("sock_send_length", "sock_sendmsg", "sendmsg"),
        ("sock_recv_length", "sock_recvmsg", "recvmsg"),
    ] {
        exclude.push(format!("tp_btf:{tp}"));
        exclude.push(format!("rawtracepoint:{tp}"));
        exclude.push(format!("tracepoint:sock:{tp}"));
        exclude.push(format!("fexit:{{inet,inet6,unix_stream,unix_dgram}}_{op}"));
        exclude.push(format!("fexit:{func}"));
        exclude.push(format!("kprobe:{func}"));
    }
    known_workload(
        &[
            ("SOCKREC_EXCLUDE_PROBES", &exclude.join(",")),
            ("SOCKREC_PRE_5_12", "1"),
        ],
        Some("tracepoint:syscalls:sys_enter_{sendto,sendmsg}"),
    )
}

/// Loopback TCP connections (listen, connect, accept, close) made by this
/// process, not the workload, one after another until stopped.
struct ForeignTcp {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl ForeignTcp {
    fn start() -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut made = 0;
            while !stopped.load(Ordering::Relaxed) {
                let connection = (|| {
                    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                    let client = std::net::TcpStream::connect(listener.local_addr()?)?;
                    let (server, _) = listener.accept()?;
                    drop((client, server));
                    std::io::Result::Ok(())
                })();
                made += u64::from(connection.is_ok());
            }
            made
        });
        ForeignTcp { stop, thread }
    }

    /// Stops and says how many connections were made.
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

/// Records the known workload (with `env` added to the recorder's
/// environment) and checks the capture holds exactly its events; sends
/// must come from `want_send_probe` where the kernel decides it.
fn known_workload(env: &[(&str, &str)], want_send_probe: Option<&str>) -> TestResult {
    let dir = TempDir::new("known");
    let out = dir.path().join("known.parquet");
    // A cgroup of its own, so `cgroup_id` is checked against something
    // other than the root's (made first: dropped after the workload).
    let root = cgroup2_root().ok_or("no cgroup2 mount")?;
    let name = dir.path().file_name().unwrap().to_string_lossy();
    let cg = Cgroup(Path::new(&root).join(format!("sockrec-{name}")));
    std::fs::create_dir_all(&cg.0).map_err(|e| format!("mkdir {}: {e}", cg.0.display()))?;
    let mut wl = workload("known", dir.path())?;
    let pid = wl.pid();
    std::fs::write(cg.0.join("cgroup.procs"), pid.to_string())
        .map_err(|e| format!("moving the workload into {}: {e}", cg.0.display()))?;
    // cgroup v2 ids are the inode numbers of the cgroups' directories.
    let cgroup_id =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&cg.0).map_err(|e| e.to_string())?);
    let rec = recorder(
        &[
            "-o",
            out.to_str().unwrap(),
            "-d",
            "60s",
            "-p",
            &pid.to_string(),
        ],
        env,
    )?;
    // Other processes' TCP beside it, as on any busy host: none of it may
    // pass the `-p` filter (sockets the workload bound and closed leave
    // their `struct sock` addresses to be reused by these).
    let foreign = ForeignTcp::start();
    wl.go().map_err(text)?;
    let lines = wl.read_until("done").map_err(text)?;
    // Let the drain's 100 ms tick pick the last events up, then stop cleanly.
    std::thread::sleep(Duration::from_millis(300));
    let foreign = foreign.stop();
    ensure!(
        foreign > 0,
        "no foreign connection was made beside the workload"
    );
    let stopped = rec.stop(libc::SIGINT).map_err(text)?;
    let (ok, err) = (stopped.success(), stopped.stderr_text());
    ensure!(ok, "sockrec record failed: {err}");
    ensure!(
        err.contains("lost 0"),
        "summary line should say lost 0: {err}"
    );

    let mut expected: Vec<Expected> = lines.iter().filter_map(|l| Expected::parse(l)).collect();
    let inflight_fd: i32 = lines
        .iter()
        .find_map(|l| l.strip_prefix("inflight "))
        .and_then(|s| s.parse().ok())
        .ok_or("workload did not report its in-flight accept")?;
    ensure!(
        expected.len() > 40,
        "workload reported only {} events",
        expected.len()
    );

    let cap = capture::read(&out)?;
    ensure!(
        cap.meta.get("sockrec.complete").map(String::as_str) == Some("true"),
        "capture not marked complete"
    );
    let (in_flight, done): (Vec<Row>, Vec<Row>) =
        cap.rows.iter().cloned().partition(|r| r.in_flight);
    ensure!(
        in_flight.len() == 1,
        "one call in flight expected, got {in_flight:?}"
    );
    let f = &in_flight[0];
    ensure!(
        f.kind == "accept"
            && f.fd == Some(inflight_fd)
            && f.ret.is_none()
            && f.latency_ns.is_none(),
        "in-flight accept wrong: {f:?}"
    );

    // One `kind=probe (...)` line per kind; a space after each for matching.
    let probes: String = cap
        .meta
        .get("sockrec.probes")
        .ok_or("no sockrec.probes metadata")?
        .lines()
        .map(|l| format!("{} ", l.split(' ').next().unwrap_or("")))
        .collect();
    // And which code the programs ran: the newer paths from 5.12 on,
    // unless told to take the old ones (the 5.10 guest takes them anyway).
    let pre_5_12 = env.contains(&("SOCKREC_PRE_5_12", "1")) || kernel_before(5, 12);
    let want_code = if pre_5_12 {
        "programs=task:helpers,calls:hash "
    } else {
        "programs=task:btf,calls:slots "
    };
    ensure!(
        probes.contains(want_code),
        "capture should say {want_code:?}: {probes:?}"
    );
    for r in cap.rows.iter().filter(|r| !is_life(r)) {
        ensure!(
            r.pid == pid && r.tid == pid,
            "event from another task: {r:?}"
        );
        ensure!(
            r.comm == workload::COMM,
            "comm {:?}, want {:?}",
            r.comm,
            workload::COMM
        );
        ensure!(
            r.uid == workload::UID && r.cgroup_id == cgroup_id,
            "uid {} and cgroup_id {}, want {} and {cgroup_id}: {r:?}",
            r.uid,
            r.cgroup_id,
            workload::UID
        );
        let is_call = r.kind != "send" && r.kind != "recv" && !is_life(r);
        if is_call && !r.in_flight {
            ensure!(
                r.latency_ns.is_some_and(|l| l > 0),
                "call without latency: {r:?}"
            );
        }
        // Each event names the probe that the capture's plan says caught its kind.
        let planned = format!("{}={} ", r.kind, r.probe);
        ensure!(
            probes.contains(&planned),
            "probe {:?} for {} is not in the plan {probes:?}",
            r.probe,
            r.kind
        );
        if let (Some(want), "send") = (want_send_probe, r.kind.as_str()) {
            ensure!(r.probe == want, "send caught by {:?}, want {want}", r.probe);
        }
        if is_call {
            ensure!(
                r.probe == format!("tracepoint:syscalls:sys_enter_{}", r.kind),
                "{r:?}"
            );
        }
    }
    // TCP state changes come from the first way (BTF) unless it is excluded.
    let excluded = env
        .iter()
        .any(|(k, v)| *k == "SOCKREC_EXCLUDE_PROBES" && v.contains("tp_btf:inet_sock_set_state"));
    let want_tcp = if excluded {
        "rawtracepoint:inet_sock_set_state"
    } else {
        "tp_btf:inet_sock_set_state"
    };
    for r in cap.rows.iter().filter(|r| is_tcp(r)) {
        ensure!(
            r.kind != "tcp_state" || r.probe == want_tcp,
            "tcp_state caught by {:?}, want {want_tcp}",
            r.probe
        );
        let planned = format!("{}={} ", r.kind, r.probe);
        ensure!(
            probes.contains(&planned),
            "probe {:?} for {} is not in the plan {probes:?}",
            r.probe,
            r.kind
        );
    }
    connections_match_workload(&cap.rows, &lines)?;
    closes_match_workload(&cap.rows, &lines, &probes, pid)?;
    let mut got: Vec<Expected> = done
        .iter()
        .filter(|r| !is_life(r))
        .map(expected_of)
        .collect();
    got.sort();
    expected.sort();
    if got != expected {
        // Multiset differences: an event expected twice but caught once counts.
        let mut missing = expected.clone();
        let mut extra = Vec::new();
        for g in &got {
            match missing.iter().position(|e| e == g) {
                Some(i) => drop(missing.remove(i)),
                None => extra.push(g.clone()),
            }
        }
        return Err(format!(
            "capture differs from the workload ({} vs {} events)\nmissing: {missing:#?}\nunexpected: {extra:#?}",
            got.len(),
            expected.len()
        ));
    }
    // The errno cases the issue names, present with the right values.
    ensure!(
        got.iter()
            .any(|e| e.kind == "connect" && e.errno == Some(libc::ECONNREFUSED)),
        "no refused connect"
    );
    // The in-flight accept: on an IPv4 TCP listener, entered, never returned.
    let mut calls = expected;
    calls.push(Expected {
        kind: "accept".into(),
        family: libc::AF_INET as u16,
        sock_type: libc::SOCK_STREAM as u16,
        protocol: libc::IPPROTO_TCP as u16,
        fd: Some(inflight_fd),
        fd2: None,
        errno: None,
        addr: None,
        port: None,
        bytes: None,
        inode: None,
        laddr: None,
        lport: None,
        raddr: None,
        rport: None,
        backlog: None,
    });
    reports_say_what_workload_did(&out, &calls)?;
    connection_reports_say_what_workload_did(&out, &calls, &lines, pid)
}

/// The connection reports over the known capture (`--format csv`) say what
/// the workload did, whatever probes caught it and on every kernel the
/// tests boot: tcplife lists both ends of each of its TCP sessions with
/// its bytes (the kernel's counts include SYN and FIN: up to 2 more sent,
/// 1 more received), owned by the workload; tcpconnect has each TCP
/// connect, tcpaccept each accept, solisten each TCP listen with its
/// backlog, tcpconnlat the non-blocking connect, udpconnect the UDP one;
/// tcptop each session's bytes exactly, socksize every message in its
/// bucket, soaccept every TCP accept.
/// The ports are the workload's own (getsockname(2)).
fn connection_reports_say_what_workload_did(
    capture: &Path,
    calls: &[Expected],
    lines: &[String],
    pid: u32,
) -> TestResult {
    use std::collections::{BTreeMap, HashMap};
    let file = capture.to_str().unwrap();
    let csv = |report: &str| -> Result<Vec<HashMap<String, String>>, String> {
        let text = query::query_ok(&[report, "-i", file, "--format", "csv"])?;
        let mut rows = query::csv_rows(&text).into_iter();
        let header = rows.next().ok_or(format!("{report}: no header"))?;
        Ok(rows
            .map(|r| header.iter().cloned().zip(r).collect())
            .collect())
    };
    let num = |row: &HashMap<String, String>, col: &str| -> u64 {
        row.get(col)
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let inet = |e: &&Expected| matches!(e.family as i32, libc::AF_INET | libc::AF_INET6);
    let tcp_calls = |kind: &[&str]| -> Vec<&Expected> {
        calls
            .iter()
            .filter(|e| kind.contains(&e.kind.as_str()) && e.protocol == libc::IPPROTO_TCP as u16)
            .filter(inet)
            .collect()
    };
    let connects = tcp_calls(&["connect"]);
    let of_inode = |inode: u64| connects.iter().find(|e| e.inode == Some(inode)).copied();

    let life = csv("tcplife")?;
    let mut sessions = 0;
    for s in lines.iter().filter_map(|l| workload::Session::parse(l)) {
        sessions += 1;
        let c = of_inode(s.client).ok_or(format!("no connect of socket {}", s.client))?;
        let (lport, rport) = (c.lport.unwrap_or(0) as u64, c.rport.unwrap_or(0) as u64);
        for (l, r, tx, rx) in [
            (lport, rport, s.sent, s.received),
            (rport, lport, s.received, s.sent),
        ] {
            let row = life
                .iter()
                .find(|row| num(row, "lport") == l && num(row, "rport") == r)
                .ok_or(format!("tcplife has no session {l} -> {r}: {life:#?}"))?;
            let (t, x) = (num(row, "tx_bytes"), num(row, "rx_bytes"));
            ensure!(
                (tx..=tx + 2).contains(&t) && (rx..=rx + 1).contains(&x),
                "tcplife {l} -> {r}: tx {t} rx {x}, want {tx} and {rx} (+ SYN/FIN)"
            );
            ensure!(
                num(row, "pid") == pid as u64
                    && row.get("comm").map(String::as_str) == Some(workload::COMM),
                "tcplife {l} -> {r} not the workload's: {row:?}"
            );
        }
    }
    ensure!(sessions >= 3, "{sessions} sessions");

    let mut want: Vec<u64> = connects
        .iter()
        .map(|e| e.port.unwrap_or(0) as u64)
        .collect();
    let mut got: Vec<u64> = csv("tcpconnect")?.iter().map(|r| num(r, "dport")).collect();
    want.sort();
    got.sort();
    ensure!(got == want, "tcpconnect's ports {got:?}, want {want:?}");

    let mut want: Vec<(u64, u64)> = tcp_calls(&["accept", "accept4"])
        .iter()
        .filter(|e| e.fd2.is_some()) // not the one in flight
        .map(|e| (e.lport.unwrap_or(0) as u64, e.rport.unwrap_or(0) as u64))
        .collect();
    let mut got: Vec<(u64, u64)> = csv("tcpaccept")?
        .iter()
        .map(|r| (num(r, "lport"), num(r, "rport")))
        .collect();
    want.sort();
    got.sort();
    ensure!(got == want, "tcpaccept's ports {got:?}, want {want:?}");

    let mut want: Vec<(u64, u64)> = tcp_calls(&["listen"])
        .iter()
        .map(|e| (e.lport.unwrap_or(0) as u64, e.backlog.unwrap_or(0) as u64))
        .collect();
    let mut got: Vec<(u64, u64)> = csv("solisten")?
        .iter()
        .filter(|r| r.get("proto").is_some_and(|p| p.starts_with("TCP")))
        .map(|r| (num(r, "port"), num(r, "backlog")))
        .collect();
    want.sort();
    got.sort();
    ensure!(
        got == want,
        "solisten's TCP ports and backlogs {got:?}, want {want:?}"
    );

    let latencies = csv("tcpconnlat")?;
    for nb in lines
        .iter()
        .filter_map(|l| l.strip_prefix("N\t")?.parse::<u64>().ok())
    {
        let c = of_inode(nb).ok_or("no non-blocking connect")?;
        ensure!(
            latencies
                .iter()
                .any(|r| num(r, "lport") == c.lport.unwrap_or(0) as u64),
            "tcpconnlat lacks the non-blocking connect from port {:?}: {latencies:#?}",
            c.lport
        );
    }

    // tcptop: each session's bytes each way, exact (they are the messages'
    // byte counts), summed over its intervals.
    let top = csv("tcptop")?;
    for s in lines.iter().filter_map(|l| workload::Session::parse(l)) {
        let c = of_inode(s.client).ok_or(format!("no connect of socket {}", s.client))?;
        let (lport, rport) = (c.lport.unwrap_or(0) as u64, c.rport.unwrap_or(0) as u64);
        for (l, r, tx, rx) in [
            (lport, rport, s.sent, s.received),
            (rport, lport, s.received, s.sent),
        ] {
            let (t, x) = top
                .iter()
                .filter(|row| num(row, "lport") == l && num(row, "rport") == r)
                .fold((0, 0), |(t, x), row| {
                    (t + num(row, "tx_bytes"), x + num(row, "rx_bytes"))
                });
            ensure!(
                (t, x) == (tx, rx) || (tx, rx) == (0, 0),
                "tcptop {l} -> {r}: tx {t} rx {x}, want {tx} and {rx}: {top:#?}"
            );
        }
    }

    // socksize: every message of the workload in its power-of-2 bucket.
    let mut want = BTreeMap::new();
    for e in calls
        .iter()
        .filter(|e| e.kind == "send" || e.kind == "recv")
    {
        let n = e.bytes.unwrap_or(0) as u64;
        let low = if n < 2 { n } else { 1 << n.ilog2() };
        let map = if e.kind == "send" {
            "write_bytes"
        } else {
            "read_bytes"
        };
        let high = if n == 0 { 1 } else { low * 2 };
        *want.entry(format!("{map},{low},{high}")).or_insert(0u64) += 1;
    }
    let mut got = BTreeMap::new();
    for r in csv("socksize")? {
        let key = format!("{},{},{}", r["map"], r["low"], r["high"]);
        *got.entry(key).or_insert(0u64) += num(&r, "count");
    }
    ensure!(got == want, "socksize {got:?}, want {want:?}");

    let accepts = tcp_calls(&["accept", "accept4"])
        .iter()
        .filter(|e| e.fd2.is_some())
        .count();
    let ok = csv("soaccept")?
        .iter()
        .filter(|r| r.get("result").map(String::as_str) == Some("Success"))
        .count();
    ensure!(ok == accepts, "soaccept lists {ok} accepts, want {accepts}");

    let udp: Vec<u64> = calls
        .iter()
        .filter(|e| e.kind == "connect" && e.protocol == libc::IPPROTO_UDP as u16)
        .map(|e| e.port.unwrap_or(0) as u64)
        .collect();
    let got: Vec<u64> = csv("udpconnect")?.iter().map(|r| num(r, "rport")).collect();
    ensure!(got == udp, "udpconnect's ports {got:?}, want {udp:?}");
    Ok(())
}

/// Where the kernel lets sockrec see a socket's end (`close=fentry:...` or
/// `kprobe:...` in the plan), each socket the workload closed (its `C`
/// lines) has its `close` row, the closer's, with the socket's family and
/// its ends if INET; where not (this project's CI machine: no trampolines,
/// no kprobes), the plan says `close=none` and no row is a close.
fn closes_match_workload(rows: &[Row], lines: &[String], probes: &str, pid: u32) -> TestResult {
    let closes: Vec<&Row> = rows.iter().filter(|r| r.kind == "close").collect();
    if probes.contains("close=none ") {
        ensure!(closes.is_empty(), "close rows without a close probe");
        return Ok(());
    }
    ensure!(
        probes.contains("close=fentry:sock_close ") || probes.contains("close=kprobe:sock_close "),
        "no close probe in the plan {probes:?}"
    );
    let mut n = 0;
    for inode in lines
        .iter()
        .filter_map(|l| l.strip_prefix("C\t")?.parse::<u64>().ok())
    {
        n += 1;
        let r = closes
            .iter()
            .find(|r| r.inode == Some(inode))
            .ok_or(format!("no close of socket {inode}: {closes:#?}"))?;
        ensure!(
            r.pid == pid
                && r.family != 0
                && r.ret.is_none()
                && r.latency_ns.is_none()
                && (r.family as i32 == libc::AF_UNIX || r.laddr.is_some()),
            "close of socket {inode}: {r:?}"
        );
    }
    ensure!(n > 10, "the workload closed {n} sockets");
    Ok(())
}

/// The TCP rows of the known workload's connections (its `S`, `N`, `F`
/// and `L` lines; workload.rs), found by the sockets' inodes: each
/// session opened and closed, with the bytes each way in the kernel's
/// counts at TCP_CLOSE, which count the SYN and FIN too (so up to 2 more
/// than the data sent, 1 more than received); the non-blocking connect
/// established; the refused one closed without ever being established;
/// each listener listened and closed.
fn connections_match_workload(rows: &[Row], lines: &[String]) -> TestResult {
    let tcp: Vec<&Row> = rows.iter().filter(|r| is_tcp(r)).collect();
    for r in &tcp {
        ensure!(
            matches!(r.family as i32, libc::AF_INET | libc::AF_INET6)
                && r.protocol == libc::IPPROTO_TCP as u16
                && r.sock.is_some()
                && r.laddr.is_some()
                && r.state.is_some(),
            "TCP row without its socket: {r:?}"
        );
    }
    let changes = |inode: u64| -> Vec<(String, String, &Row)> {
        tcp.iter()
            .filter(|r| r.kind == "tcp_state" && r.inode == Some(inode))
            .map(|r| {
                let s = |v: &Option<String>| v.clone().unwrap_or_default();
                (s(&r.old_state), s(&r.state), *r)
            })
            .collect()
    };
    let has = |inode: u64, from: &str, to: &str| {
        changes(inode)
            .iter()
            .any(|(o, n, _)| (from.is_empty() || o == from) && n == to)
    };
    let closed = |inode: u64| changes(inode).into_iter().find(|(_, n, _)| n == "CLOSE");
    let mut sessions = 0;
    for line in lines {
        let mut f = line.split('\t');
        let (tag, inode) = (f.next(), f.next().and_then(|v| v.parse::<u64>().ok()));
        if let Some(s) = workload::Session::parse(line) {
            sessions += 1;
            ensure!(
                has(s.client, "SYN_SENT", "ESTABLISHED"),
                "session {line:?}: client never established: {:?}",
                changes(s.client)
            );
            for (inode, tx, rx) in [
                (s.client, s.sent, s.received),
                (s.server, s.received, s.sent),
            ] {
                let Some((_, _, close)) = closed(inode) else {
                    return Err(format!(
                        "session {line:?}: socket {inode} never closed: {:?}",
                        changes(inode)
                    ));
                };
                let (t, r) = (close.tx_bytes.unwrap_or(0), close.rx_bytes.unwrap_or(0));
                ensure!(
                    (tx..=tx + 2).contains(&t) && (rx..=rx + 1).contains(&r),
                    "session {line:?}: socket {inode} closed with tx {t} rx {r}, want {tx} and {rx} (+ SYN/FIN)"
                );
            }
            continue;
        }
        let Some(inode) = inode else { continue };
        match tag {
            Some("N") => ensure!(
                has(inode, "SYN_SENT", "ESTABLISHED"),
                "non-blocking connect {inode} never established: {:?}",
                changes(inode)
            ),
            Some("F") => ensure!(
                has(inode, "SYN_SENT", "CLOSE") && !has(inode, "", "ESTABLISHED"),
                "refused connect {inode}: {:?}",
                changes(inode)
            ),
            Some("L") => ensure!(
                has(inode, "CLOSE", "LISTEN") && has(inode, "LISTEN", "CLOSE"),
                "listener {inode}: {:?}",
                changes(inode)
            ),
            _ => {}
        }
    }
    ensure!(sessions >= 3, "workload reported {sessions} TCP sessions");
    Ok(())
}

/// The four reports over the capture say what the workload did, whatever
/// probes caught it: this runs for every probe plan the tests force, and
/// on every kernel `cargo xtask test-kernel` boots. `calls` is the
/// workload's log; an `accept` with neither fd2 nor errno is in flight.
fn reports_say_what_workload_did(capture: &Path, calls: &[Expected]) -> TestResult {
    use std::collections::BTreeMap;
    let comm = workload::COMM;
    let af = |f: u16| match f as i32 {
        libc::AF_UNIX => "AF_UNIX",
        libc::AF_INET => "AF_INET",
        libc::AF_INET6 => "AF_INET6",
        _ => "?",
    };
    // soprotocol's keys after comm, as its header comment describes them.
    let proto = |e: &Expected| match (e.family as i32, e.protocol as i32) {
        (libc::AF_UNIX, 0) => "0, IPPROTO_IP, UNIX",
        (_, libc::IPPROTO_TCP) => "6, IPPROTO_TCP, TCP",
        (_, libc::IPPROTO_UDP) => "17, IPPROTO_UDP, UDP",
        _ => "?",
    };
    let (mut sockstat, mut sofamily, mut soprotocol, mut soconnect) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    // sockstat(8) counts neither listen(2) nor anything of TCP.
    for e in calls.iter().filter(|e| e.kind != "listen") {
        let probe = match e.kind.as_str() {
            "send" => "kprobe:sock_sendmsg".to_string(),
            "recv" => "kprobe:sock_recvmsg".to_string(),
            kind => format!("tracepoint:syscalls:sys_enter_{kind}"),
        };
        query::add(&mut sockstat, &format!("@[{probe}]"), 1);
        match e.kind.as_str() {
            // The workload connects each socket to an address of its own family.
            "connect" => {
                let key = format!("@connect[{comm}, {}, {}]", e.family, af(e.family));
                query::add(&mut sofamily, &key, 1);
                let key = format!("@connect[{comm}, {}]", proto(e));
                query::add(&mut soprotocol, &key, 1);
                if e.family as i32 != libc::AF_UNIX {
                    let result = match e.errno {
                        None => "Success".to_string(),
                        Some(n) => std::io::Error::from_raw_os_error(n)
                            .to_string()
                            .split(" (os error")
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                    };
                    let key = format!(
                        "{},{},{},{result}",
                        e.family,
                        e.addr.as_deref().unwrap_or_default(),
                        e.port.unwrap_or_default()
                    );
                    query::add(&mut soconnect, &key, 1);
                }
            }
            "accept" | "accept4" => {
                if e.fd2.is_some() {
                    let key = format!("@accept[{comm}, {}, {}]", e.family, af(e.family));
                    query::add(&mut sofamily, &key, 1);
                }
                let key = format!("@accept[{comm}, {}]", proto(e));
                query::add(&mut soprotocol, &key, 1);
            }
            _ => {}
        }
    }
    let file = capture.to_str().unwrap();
    for (report, want) in [
        ("sockstat", &sockstat),
        ("sofamily", &sofamily),
        ("soprotocol", &soprotocol),
    ] {
        let out = query::query_ok(&[report, "-i", file])?;
        let got = query::map_lines(&out)?;
        ensure!(
            &got == want,
            "{report} (summed over its maps): got {got:#?}\nwant {want:#?}\n{out}"
        );
    }
    // soconnect's CSV: time,host,pid,comm,family,address,port,latency_us,result,errno
    let out = query::query_ok(&["soconnect", "-i", file, "--format", "csv"])?;
    let rows = query::csv_rows(&out);
    let header = rows.first().ok_or("soconnect: no header")?;
    let col = |name: &str| header.iter().position(|h| h == name);
    let cols = ["family", "address", "port", "result"].map(col);
    let [Some(f), Some(a), Some(p), Some(r)] = cols else {
        return Err(format!("soconnect columns: {header:?}"));
    };
    let mut got = BTreeMap::new();
    for row in &rows[1..] {
        let key = format!("{},{},{},{}", row[f], row[a], row[p], row[r]);
        query::add(&mut got, &key, 1);
    }
    ensure!(
        got == soconnect,
        "soconnect: got {got:#?}\nwant {soconnect:#?}\n{out}"
    );

    // Together with a fixture, whose string columns are plain Utf8 where
    // this capture's are dictionaries: one table, each capture's rows as
    // when it is queried alone.
    let per_kind = "SELECT host, capture, kind, count(*) AS n FROM events \
                    GROUP BY host, capture, kind";
    let older = query::fixture("host-a");
    let older = older.to_str().unwrap();
    let rows_of = |inputs: &[&str]| -> Result<Vec<Vec<String>>, String> {
        let mut args = vec!["-e", per_kind, "--format", "csv"];
        for i in inputs {
            args.extend(["-i", i]);
        }
        let mut rows = query::csv_rows(&query::query_ok(&args)?);
        rows.remove(0);
        rows.sort();
        Ok(rows)
    };
    let mut alone = rows_of(&[file])?;
    ensure!(!alone.is_empty(), "no rows in {file}");
    alone.extend(rows_of(&[older])?);
    alone.sort();
    let together = rows_of(&[file, older])?;
    ensure!(
        together == alone,
        "queried together: {together:?}\nqueried alone: {alone:?}"
    );
    Ok(())
}

/// A recorder killed with SIGKILL leaves a capture that any Parquet reader
/// opens, holding what was flushed (at most 5 s before the kill).
fn sigkill_leaves_readable_capture() -> TestResult {
    let dir = TempDir::new("sigkill");
    let out = dir.path().join("killed.parquet");
    let mut wl = workload("udp-loop", dir.path())?;
    let pid = wl.pid();
    let rec = recorder(&["-o", out.to_str().unwrap(), "-p", &pid.to_string()], &[])?;
    wl.go().map_err(text)?;
    wl.read_until("looping").map_err(text)?;
    // Wait for a flush to show rows in the file (every 5 s; slower under
    // emulation, where encoding a row group takes seconds), then kill.
    let waited = std::time::Instant::now();
    let flushed = loop {
        std::thread::sleep(Duration::from_millis(500));
        // A read may meet a flush half-written: that is just "not yet".
        let rows = capture::read(&out).map(|c| c.rows.len()).unwrap_or(0);
        if rows > 1000 {
            break rows;
        }
        ensure!(
            waited.elapsed() < Duration::from_secs(120),
            "no flush with rows within 120 s"
        );
    };
    let ok = rec.stop(libc::SIGKILL).map_err(text)?.success();
    ensure!(!ok, "recorder should have died");
    drop(wl);

    let cap = capture::read(&out)?;
    ensure!(
        cap.rows.len() >= flushed,
        "{} rows after the kill, {flushed} before",
        cap.rows.len()
    );
    ensure!(
        cap.rows.len() > 1000,
        "only {} rows survived the kill; metadata {:?}",
        cap.rows.len(),
        cap.meta
    );
    ensure!(
        cap.meta.get("sockrec.complete").map(String::as_str) == Some("false"),
        "a killed capture must say complete=false"
    );
    let msgs: Vec<&Row> = cap
        .rows
        .iter()
        .filter(|r| r.kind == "send" || r.kind == "recv")
        .collect();
    let mut calls: Vec<&str> = cap
        .rows
        .iter()
        .filter(|r| r.kind != "send" && r.kind != "recv")
        .map(|r| r.kind.as_str())
        .collect();
    calls.sort();
    ensure!(
        calls == ["bind", "connect", "socket", "socket"],
        "besides messages only the loop's set-up calls expected: {calls:?}"
    );
    ensure!(
        msgs.iter().all(|r| r.bytes == Some(32)),
        "every message is 32 bytes"
    );
    // And sockrec itself reads it.
    let info = util::run(util::sockrec().arg("info").arg(&out));
    ensure!(
        info.status.success(),
        "sockrec info failed: {}",
        util::stderr(&info)
    );
    let text = String::from_utf8_lossy(&info.stdout);
    ensure!(
        text.contains("complete:") && text.contains("no"),
        "info should say incomplete: {text}"
    );
    Ok(())
}

/// Without CAP_BPF/CAP_PERFMON (root with SECBIT_NOROOT: no capabilities
/// after exec) the recorder says what is missing in one line.
fn without_privileges_fails_clearly() -> TestResult {
    let dir = TempDir::new("noprivs");
    let out = dir.path().join("x.parquet");
    let mut cmd = util::sockrec();
    cmd.args(["record", "-d", "1s", "-o", out.to_str().unwrap()]);
    util::without_root_capabilities(&mut cmd);
    let outp = util::run(&mut cmd);
    ensure!(
        outp.status.code() == Some(1),
        "exit code {:?}",
        outp.status.code()
    );
    let line = util::one_error_line(&outp)?;
    ensure!(
        line.contains("needs root, or CAP_BPF and CAP_PERFMON"),
        "{line}"
    );
    ensure!(!out.exists(), "no capture should be created");
    Ok(())
}

/// Whether the running kernel is older than `major.minor`.
fn kernel_before(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    (next(), next()) < (major, minor)
}

/// The cgroup v2 mount (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on
/// hybrid systems).
fn cgroup2_root() -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| f[1].to_string())
}

/// A cgroup of our own, removed on drop (after its processes have gone).
struct Cgroup(std::path::PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The workload must have exited for rmdir to succeed; give it a moment.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `--comm`, `--cgroup` and `--events` together keep exactly the workload's
/// chosen kinds, and drop another process's events of those kinds; SIGTERM
/// finishes the capture cleanly.
fn kernel_filters_and_sigterm() -> TestResult {
    let dir = TempDir::new("filters");
    let out = dir.path().join("filtered.parquet");
    let root = cgroup2_root().ok_or("no cgroup2 mount")?;
    let cg = Cgroup(Path::new(&root).join(format!("sockrec-test-{}", std::process::id())));
    std::fs::create_dir_all(&cg.0).map_err(|e| format!("mkdir {}: {e}", cg.0.display()))?;
    let mut wl = workload("known", dir.path())?;
    std::fs::write(cg.0.join("cgroup.procs"), wl.pid().to_string())
        .map_err(|e| format!("moving the workload into {}: {e}", cg.0.display()))?;
    // The filters, with and without the `--cgroup DIR` pair.
    let filters = |cgroup: bool| {
        let mut args = vec!["--comm", workload::COMM];
        if cgroup {
            args.extend(["--cgroup", cg.0.to_str().unwrap()]);
        }
        args.extend(["--events", "connect,accept,accept4"]);
        args
    };
    let mut with_cgroup = true;
    // Tracing programs may call bpf_get_current_ancestor_cgroup_id only
    // from about 5.12 (Debian 11's 5.10 refuses it): there --cgroup must be
    // refused in one line, and the other filters still work.
    if kernel_before(5, 13) {
        let tried = dir.path().join("tried.parquet");
        let mut cmd = util::sockrec();
        cmd.args(["record", "-d", "1s", "-o", tried.to_str().unwrap()])
            .args(filters(true));
        let refused = util::run(&mut cmd);
        if !refused.status.success() {
            let line = util::one_error_line(&refused)?;
            ensure!(
                line.contains("--cgroup: this kernel")
                    && line.contains("bpf_get_current_ancestor_cgroup_id"),
                "{line}"
            );
            ensure!(
                !tried.exists(),
                "a refused recording left {}",
                tried.display()
            );
            with_cgroup = false;
        }
    }
    let mut args = vec!["-o", out.to_str().unwrap()];
    args.extend(filters(with_cgroup));
    let rec = recorder(&args, &[])?;
    // Another process's connect, which every filter must drop.
    let _ = std::os::unix::net::UnixStream::connect(dir.path().join("nobody-listens"));
    wl.go().map_err(text)?;
    let lines = wl.read_until("done").map_err(text)?;
    std::thread::sleep(Duration::from_millis(300));
    let stopped = rec.stop(libc::SIGTERM).map_err(text)?;
    let (ok, err) = (stopped.success(), stopped.stderr_text());
    ensure!(ok, "sockrec record failed: {err}");
    drop(wl);

    let kinds = ["connect", "accept", "accept4"];
    let mut expected: Vec<Expected> = lines
        .iter()
        .filter_map(|l| Expected::parse(l))
        .filter(|e| kinds.contains(&e.kind.as_str()))
        .collect();
    let cap = capture::read(&out)?;
    ensure!(
        cap.meta.get("sockrec.complete").map(String::as_str) == Some("true"),
        "SIGTERM must finish the capture"
    );
    let filters = cap.meta.get("sockrec.filters").cloned().unwrap_or_default();
    ensure!(
        filters.contains("comm=sockrec-wl") && filters.contains("events=connect,accept,accept4"),
        "filters not recorded: {filters:?}"
    );
    let mut got: Vec<Expected> = cap
        .rows
        .iter()
        .filter(|r| !r.in_flight)
        .map(expected_of)
        .collect();
    ensure!(
        cap.rows.iter().all(|r| r.comm == workload::COMM),
        "an event of another process got through"
    );
    ensure!(
        cap.rows.iter().filter(|r| r.in_flight).count() == 1,
        "the blocked accept should be in flight"
    );
    got.sort();
    expected.sort();
    ensure!(
        got == expected,
        "filtered capture differs:\n{got:#?}\nvs\n{expected:#?}"
    );
    Ok(())
}

/// `sockrec probes` names the probe of every kind on this kernel, and says
/// why a way was passed over.
fn probes_lists_the_plan() -> TestResult {
    let out = util::run(
        util::sockrec()
            .env(
                "SOCKREC_EXCLUDE_PROBES",
                "tp_btf:sock_recv_length,rawtracepoint:sock_recv_length",
            )
            .arg("probes"),
    );
    ensure!(
        out.status.success(),
        "sockrec probes failed: {}",
        util::stderr(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "socket",
        "socketpair",
        "bind",
        "connect",
        "accept",
        "accept4",
        "listen",
    ] {
        let want = format!("{kind:<14} tracepoint:syscalls:sys_enter_{kind}\n");
        ensure!(text.contains(&want), "no {want:?} in {text}");
    }
    if has_sock_length_tracepoints() {
        ensure!(
            text.contains("send           tp_btf:sock_send_length\n"),
            "{text}"
        );
        ensure!(
            text.contains("recv           tracepoint:sock:sock_recv_length\n"),
            "{text}"
        );
    } else {
        // Before 6.3: the trampoline or kprobe ways, with why the tracepoints failed.
        for kind in ["send", "recv"] {
            let fexit = format!("{kind:<14} fexit:");
            let kprobe = format!("{kind:<14} kprobe:");
            ensure!(text.contains(&fexit) || text.contains(&kprobe), "{text}");
        }
        ensure!(
            text.contains("not tracepoint:sock:sock_send_length: "),
            "{text}"
        );
    }
    ensure!(
        text.contains("not rawtracepoint:sock_recv_length: excluded by SOCKREC_EXCLUDE_PROBES"),
        "{text}"
    );
    // The newer code from 5.12 on; before, the helpers and the hash map.
    let want = if kernel_before(5, 12) {
        "programs       task:helpers,calls:hash\n"
    } else {
        "programs       task:btf,calls:slots\n"
    };
    ensure!(text.contains(want), "{text}");

    // TCP state changes and retransmits: the BTF tracepoints on every
    // kernel the tests boot (5.10+).
    for (kind, tp) in [
        ("tcp_state", "inet_sock_set_state"),
        ("tcp_retransmit", "tcp_retransmit_skb"),
    ] {
        let want = format!("{kind:<14} tp_btf:{tp}\n");
        ensure!(text.contains(&want), "no {want:?} in {text}");
    }
    Ok(())
}

/// Without `-o`, the capture lands in the current directory, named after
/// the host and start time, readable by its owner only.
fn default_capture_name_and_mode() -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("default-name");
    let out = util::run(
        util::sockrec()
            .current_dir(dir.path())
            .args(["record", "-d", "1s", "--events", "connect"]),
    );
    ensure!(
        out.status.success(),
        "record failed: {}",
        util::stderr(&out)
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let prefix = format!("sockrec-{}-", host.trim());
    ensure!(
        names.len() == 1 && names[0].starts_with(&prefix) && names[0].ends_with("Z.parquet"),
        "expected one {prefix}<time>Z.parquet, found {names:?}"
    );
    let path = dir.path().join(&names[0]);
    let mode = std::fs::metadata(&path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    ensure!(mode & 0o777 == 0o600, "mode {:o}", mode & 0o777);
    ensure!(capture::read(&path).is_ok(), "capture unreadable");
    Ok(())
}

/// A process named with escape sequences, binding a UNIX socket whose path
/// has them too: the capture keeps the exact bytes (csv reads them back),
/// the reports show them escaped.
fn hostile_names_are_escaped() -> TestResult {
    use crate::terminal::{HOSTILE_COMM_SHOWN, has_raw_controls};
    let dir = TempDir::new("hostile");
    let out = dir.path().join("hostile.parquet");
    let mut wl = workload("hostile", dir.path())?;
    let pid = wl.pid().to_string();
    let rec = recorder(&["-o", out.to_str().unwrap(), "-p", &pid], &[])?;
    wl.go().map_err(text)?;
    wl.read_until("done").map_err(text)?;
    std::thread::sleep(Duration::from_millis(300));
    let stopped = rec.stop(libc::SIGTERM).map_err(text)?;
    let (ok, err) = (stopped.success(), stopped.stderr_text());
    ensure!(ok, "sockrec record failed: {err}");
    drop(wl);
    let cap = out.to_str().unwrap();
    let path = format!("{}/{}", dir.path().display(), workload::HOSTILE_SOCKET);

    let cap_rows = capture::read(&out)?;
    ensure!(
        cap_rows
            .rows
            .iter()
            .any(|r| r.kind == "connect" && r.comm == workload::HOSTILE_COMM),
        "the capture must hold the exact name: {:?}",
        cap_rows.rows.iter().map(|r| &r.comm).collect::<Vec<_>>()
    );
    for report in ["soconnect", "sofamily", "soprotocol"] {
        let text = query::query_ok(&[report, "-i", cap])?;
        ensure!(
            !has_raw_controls(&text),
            "{report} wrote raw controls: {text:?}"
        );
        ensure!(text.contains(HOSTILE_COMM_SHOWN), "{report}: {text}");
    }
    let text = query::query_ok(&[
        "-e",
        "SELECT comm, addr FROM events WHERE kind = 'bind'",
        "-i",
        cap,
    ])?;
    ensure!(
        !has_raw_controls(&text),
        "table wrote raw controls: {text:?}"
    );
    let csv_text = query::query_ok(&[
        "-e",
        "SELECT comm, addr FROM events WHERE kind = 'bind'",
        "-i",
        cap,
        "--format",
        "csv",
    ])?;
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e}: {csv_text:?}"))?;
    ensure!(
        rows.len() == 1 && &rows[0][0] == workload::HOSTILE_COMM && rows[0][1] == path,
        "csv must carry the exact name and path: {rows:?}"
    );
    Ok(())
}

/// `--force -o LINK` replaces the symlink with a capture of mode 0600; the
/// file it pointed to keeps its bytes and mode.
fn force_replaces_a_symlink() -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("symlink");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path().join("cap.parquet");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = util::run(
        util::sockrec()
            .args(["record", "-d", "1s", "--events", "connect", "--force", "-o"])
            .arg(&link),
    );
    ensure!(
        out.status.success(),
        "record failed: {}",
        util::stderr(&out)
    );
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    ensure!(
        std::fs::read_to_string(&victim).ok().as_deref() == Some("precious\n"),
        "written through the symlink"
    );
    ensure!(
        mode(&victim).ok() == Some(0o644),
        "the target's mode changed"
    );
    ensure!(!link.is_symlink(), "the symlink is still there");
    ensure!(
        mode(&link).ok() == Some(0o600),
        "capture mode {:o}",
        mode(&link).unwrap_or(0)
    );
    ensure!(capture::read(&link).is_ok(), "capture unreadable");
    Ok(())
}

/// A capture on a read-only filesystem: one line naming it, exit 1,
/// before anything is loaded.
fn read_only_filesystem_fails_clearly() -> TestResult {
    let dir = TempDir::new("readonly");
    let ro = dir.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let target = std::ffi::CString::new(ro.to_str().unwrap()).unwrap();
    let mut cmd = util::sockrec();
    cmd.args(["record", "-d", "1s", "-o"])
        .arg(ro.join("c.parquet"));
    unsafe {
        // A read-only tmpfs over `ro`, in a mount namespace of the
        // recorder's own (gone with it).
        cmd.pre_exec(move || {
            let none = std::ptr::null::<libc::c_char>();
            let tmpfs = c"tmpfs".as_ptr();
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    none,
                    c"/".as_ptr(),
                    none,
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::mount(
                    tmpfs,
                    target.as_ptr(),
                    tmpfs,
                    libc::MS_RDONLY,
                    std::ptr::null(),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = util::run(&mut cmd);
    ensure!(out.status.code() == Some(1), "exit {:?}", out.status.code());
    let line = util::one_error_line(&out)?;
    ensure!(
        line.contains("creating capture") && line.contains("Read-only file system"),
        "{line}"
    );
    Ok(())
}

/// How a loss test keeps the recorder from keeping up.
#[derive(Clone, Copy)]
enum Stall {
    /// SIGSTOP the whole recorder: nothing drains the ring buffer.
    Recorder,
    /// Stop only its writer thread, as a disk that stops answering does
    /// (a hung NFS server, a dying USB disk): the drain goes on until the
    /// writer's queue is full, then waits, and the kernel counts the rest.
    Writer,
}

/// A stopped recorder with the smallest ring counts what it could not take,
/// per CPU, in its last line, its metadata and `sockrec info`.
fn loss_is_counted() -> TestResult {
    loss_under(Stall::Recorder)
}

/// A disk that stops answering costs counted loss, not memory: the events
/// between the ring buffer and the disk are bounded (the writer's queue), so
/// the kernel counts the rest as lost. An unbounded queue would lose nothing
/// here and grow by ~200 bytes an event instead.
fn stalled_writer_counts_loss() -> TestResult {
    loss_under(Stall::Writer)
}

fn loss_under(stall: Stall) -> TestResult {
    // 200,000 messages: more than the ring (1 MiB) and the writer's queue
    // (8 batches of 4 Ki events) hold together, so a bounded recorder must
    // lose some.
    const PAIRS: u64 = 100_000;
    let dir = TempDir::new("loss");
    let out = dir.path().join("lossy.parquet");
    let mut wl = workload(&format!("udp-count {PAIRS}"), dir.path())?;
    let pid = wl.pid().to_string();
    let rec = recorder(
        &[
            "-o",
            out.to_str().unwrap(),
            "-p",
            &pid,
            "--events",
            "send,recv",
            "--buffer-mib",
            "1",
        ],
        &[],
    )?;
    let before_kib = rec.rss_kib().map_err(text)?;
    let stopped = match stall {
        Stall::Recorder => {
            rec.signal(libc::SIGSTOP);
            None
        }
        Stall::Writer => Some(ThreadStop::new(
            rec.thread("sockrec-writer").map_err(text)?,
        )?),
    };
    wl.go().map_err(text)?;
    let did = wl.read_until(&format!("did {PAIRS}")).map_err(text)?;
    ensure!(did.is_empty(), "workload said {did:?}");
    // What the recorder holds at its fullest: the drain has filled the
    // writer's queue by now and waits.
    std::thread::sleep(Duration::from_millis(500));
    let held_mib = rec.rss_kib().map_err(text)?.saturating_sub(before_kib) / 1024;
    match stopped {
        None => rec.signal(libc::SIGCONT),
        Some(stop) => stop.resume()?,
    }
    std::thread::sleep(Duration::from_millis(500));
    let stopped = rec.stop(libc::SIGTERM).map_err(text)?;
    let (ok, err) = (stopped.success(), stopped.stderr_text());
    ensure!(ok, "sockrec record failed: {err}");
    drop(wl);

    // `lost N (per CPU: [a, b])`
    let last = err.lines().last().unwrap_or_default();
    let (total, per_cpu) = last
        .rsplit_once(", lost ")
        .and_then(|(_, l)| l.split_once(" (per CPU: ["))
        .ok_or_else(|| format!("no lost count in {last:?}"))?;
    let total: u64 = total.parse().map_err(|_| format!("{last:?}"))?;
    let per_cpu: Vec<u64> = per_cpu
        .trim_end_matches("])")
        .split(", ")
        .map(|n| n.parse().unwrap_or(u64::MAX))
        .collect();
    ensure!(
        total > 0,
        "a stalled recorder with a 1 MiB ring lost nothing (it grew by {held_mib} MiB): {last}"
    );
    ensure!(per_cpu.iter().sum::<u64>() == total, "{last}");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    ensure!(per_cpu.len() >= cpus, "one count per CPU: {last}");
    // Bounded, it holds the writer's queue, one sort window and one batch
    // (~11 MB, in memory start-up freed: measured 0 MiB of growth); with
    // an unbounded queue it held all 200,000 events and grew by 35 MiB.
    ensure!(
        held_mib < 24,
        "the stalled recorder grew by {held_mib} MiB instead of counting loss"
    );

    let cap = capture::read(&out)?;
    let meta_lost = cap.meta.get("sockrec.lost").cloned().unwrap_or_default();
    let meta_per_cpu: Vec<u64> = meta_lost
        .split(',')
        .filter_map(|n| n.parse().ok())
        .collect();
    ensure!(
        meta_per_cpu == per_cpu,
        "metadata {meta_lost:?}, last line {last}"
    );
    let rows = cap.rows.len() as u64;
    ensure!(
        rows + total == 2 * PAIRS,
        "{rows} rows + {total} lost, the workload made {} messages",
        2 * PAIRS
    );
    let info = util::run(util::sockrec().arg("info").arg(&out));
    let text = String::from_utf8_lossy(&info.stdout);
    let per_cpu_text: Vec<String> = per_cpu.iter().map(u64::to_string).collect();
    let want = format!(
        "lost:            {total} (per CPU: {})",
        per_cpu_text.join(",")
    );
    ensure!(text.contains(&want), "{want:?} not in {text}");
    Ok(())
}

/// One thread of another process held stopped through ptrace (a signal
/// would stop the whole process): PTRACE_SEIZE, then PTRACE_INTERRUPT puts
/// just that thread in a ptrace-stop until PTRACE_DETACH. The thread that
/// made it must resume it (ptrace(2): the tracer is a thread).
pub(crate) struct ThreadStop(libc::pid_t);

impl ThreadStop {
    pub(crate) fn new(tid: libc::pid_t) -> Result<ThreadStop, String> {
        let os = |what: &str| format!("{what} thread {tid}: {}", std::io::Error::last_os_error());
        // SAFETY: ptrace and waitpid with plain integer arguments.
        unsafe {
            if libc::ptrace(libc::PTRACE_SEIZE, tid, 0, 0) != 0 {
                return Err(os("PTRACE_SEIZE"));
            }
            if libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) != 0 {
                return Err(os("PTRACE_INTERRUPT"));
            }
            let mut status = 0;
            if libc::waitpid(tid, &mut status, libc::__WALL) != tid || !libc::WIFSTOPPED(status) {
                return Err(os("waiting for the stop of"));
            }
        }
        Ok(ThreadStop(tid))
    }

    pub(crate) fn resume(self) -> Result<(), String> {
        // SAFETY: as above; the tracee is in its ptrace-stop.
        if unsafe { libc::ptrace(libc::PTRACE_DETACH, self.0, 0, 0) } != 0 {
            return Err(format!(
                "PTRACE_DETACH thread {}: {}",
                self.0,
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}
