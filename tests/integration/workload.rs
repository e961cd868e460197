//! The known workload: socket calls whose every event the test can predict.
//!
//! Runs in a child process (this test binary with [`ENV`] set) inside its
//! own network namespace, so only loopback exists and port numbers are ours.
//! Protocol with the parent on stdin/stdout (`sockrec_devkit::workload`:
//! record.rs drives it): the child prints `ready`, waits for a line, runs
//! the scenario, prints one `E ...` line per event it caused (see
//! [`Expected`]) and `done`. Scenarios:
//! - `known`: TCP over IPv4 and IPv6, UDP connect, UNIX stream, a refused
//!   and a non-blocking connect, socketpair, accept with and without an
//!   address buffer, send/recv of known sizes; then it blocks in accept()
//!   so a call is in flight when recording stops.
//! - `udp-loop`: UDP send/recv pairs until killed.
//! - `udp-count N`: exactly N UDP send/recv pairs as fast as it can, then
//!   `did N` (the loss test counts rows + lost against it).
//! - `passive`: a TCP connection to the workload's listener from a child
//!   process; prints `P INODE CHILD_PID` of the accepted socket.
//! - `retransmit`: a TCP connection over IPv4 whose receiver drops the
//!   first segments of data, so they are retransmitted; prints `R LPORT
//!   RPORT INODE` of the sender.
//! - `hostile`: renames itself [`HOSTILE_COMM`] (escape sequences), binds
//!   a UNIX socket at a path with escapes in it and connects to a closed
//!   TCP port.

use std::{
    ffi::CString,
    io::Write as _,
    mem::{size_of, zeroed},
};

/// Set to a scenario name to make this binary the workload.
pub const ENV: &str = "SOCKREC_TEST_WORKLOAD";
/// The workload's comm, so the test can check `comm`.
pub const COMM: &str = "sockrec-wl";
/// The name the `hostile` scenario takes: clear screen, set the window
/// title, BEL (see terminal.rs).
pub use crate::terminal::HOSTILE_COMM;
/// The UNIX socket the `hostile` scenario binds, in the test's directory.
pub const HOSTILE_SOCKET: &str = "\x1b[31mred.sock";

/// The user the workload runs as (nobody), so the test can check `uid`
/// against something other than root's 0.
pub const UID: u32 = 65534;

/// One event the capture must hold, in the capture's own terms.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    pub kind: String,
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub fd: Option<i32>,
    pub fd2: Option<i32>,
    pub errno: Option<i32>,
    pub addr: Option<String>,
    pub port: Option<u16>,
    pub bytes: Option<i64>,
    /// The socket's inode (`fstat`): the new socket's for socket,
    /// socketpair (`sv[0]`) and accept.
    pub inode: Option<u64>,
    /// The socket's ends after the call, INET/INET6 bind, connect, listen
    /// and accept only: what getsockname(2) says, and the peer it connected
    /// to or accepted.
    pub laddr: Option<String>,
    pub lport: Option<u16>,
    pub raddr: Option<String>,
    pub rport: Option<u16>,
    pub backlog: Option<u32>,
}

fn field<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s == "-" { None } else { s.parse().ok() }
}

fn show<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or("-".to_string(), |v| v.to_string())
}

impl Expected {
    pub fn to_line(&self) -> String {
        format!(
            "E\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.kind,
            self.family,
            self.sock_type,
            self.protocol,
            show(&self.fd),
            show(&self.fd2),
            show(&self.errno),
            show(&self.addr.as_ref().map(|a| format!("[{a}]"))),
            show(&self.port),
            show(&self.bytes),
            show(&self.inode),
            show(&self.laddr),
            show(&self.lport),
            show(&self.raddr),
            show(&self.rport),
            show(&self.backlog),
        )
    }

    pub fn parse(line: &str) -> Option<Expected> {
        let f: Vec<&str> = line.strip_prefix("E\t")?.split('\t').collect();
        Some(Expected {
            kind: f[0].to_string(),
            family: f[1].parse().ok()?,
            sock_type: f[2].parse().ok()?,
            protocol: f[3].parse().ok()?,
            fd: field(f[4]),
            fd2: field(f[5]),
            errno: field(f[6]),
            addr: (f[7] != "-").then(|| f[7][1..f[7].len() - 1].to_string()),
            port: field(f[8]),
            bytes: field(f[9]),
            inode: field(f[10]),
            laddr: field(f[11]),
            lport: field(f[12]),
            raddr: field(f[13]),
            rport: field(f[14]),
            backlog: field(f[15]),
        })
    }
}

const AF_UNIX: u16 = libc::AF_UNIX as u16;
const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;
const STREAM: u16 = libc::SOCK_STREAM as u16;
const DGRAM: u16 = libc::SOCK_DGRAM as u16;
const TCP: u16 = libc::IPPROTO_TCP as u16;
const UDP: u16 = libc::IPPROTO_UDP as u16;

/// Records what the workload does, as it does it: the events, and the
/// other lines it prints about its connections ([`Session`]; `N INODE`, a
/// non-blocking connect that completed; `F INODE`, a refused connect; `L
/// INODE`, a TCP listener; `C INODE`, a socket it closed).
struct Log(Vec<Expected>, Vec<String>);

fn ev(kind: &str, (family, sock_type, protocol): (u16, u16, u16)) -> Expected {
    Expected {
        kind: kind.to_string(),
        family,
        sock_type,
        protocol,
        fd: None,
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
    }
}

/// The inode number of the socket `fd` (what `/proc/PID/fd` shows as
/// `socket:[N]`).
pub fn inode_of(fd: i32) -> u64 {
    let mut st: libc::stat = unsafe { zeroed() };
    check(unsafe { libc::fstat(fd, &mut st) }, "fstat");
    st.st_ino
}

/// One TCP connection the workload made, as an `S` line: the inodes of
/// its two sockets and the bytes the client sent and received.
pub struct Session {
    pub client: u64,
    pub server: u64,
    pub sent: u64,
    pub received: u64,
}

impl Session {
    pub fn to_line(&self) -> String {
        format!(
            "S\t{}\t{}\t{}\t{}",
            self.client, self.server, self.sent, self.received
        )
    }

    pub fn parse(line: &str) -> Option<Session> {
        let f: Vec<u64> = line
            .strip_prefix("S\t")?
            .split('\t')
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        Some(Session {
            client: f[0],
            server: f[1],
            sent: f[2],
            received: f[3],
        })
    }
}

/// The local end of an INET/INET6 socket as the capture shows it
/// (address text, port); None for other families.
fn local_end(fd: i32) -> (Option<String>, Option<u16>) {
    let a = local_addr(fd);
    match a.storage.ss_family as i32 {
        libc::AF_INET => {
            let sin = unsafe { &*(&a.storage as *const _ as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            (Some(ip.to_string()), Some(u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            let sin6 = unsafe { &*(&a.storage as *const _ as *const libc::sockaddr_in6) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            (Some(ip.to_string()), Some(u16::from_be(sin6.sin6_port)))
        }
        _ => (None, None),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(r: i32, what: &str) -> i32 {
    if r < 0 {
        panic!(
            "workload: {what} failed: {}",
            std::io::Error::last_os_error()
        );
    }
    r
}

/// A sockaddr of any family, with its length.
struct Addr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl Addr {
    fn v4(port: u16) -> Addr {
        let mut a: Addr = unsafe { zeroed() };
        let sin = unsafe { &mut *(&mut a.storage as *mut _ as *mut libc::sockaddr_in) };
        sin.sin_family = AF_INET;
        sin.sin_port = port.to_be();
        sin.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        a.len = size_of::<libc::sockaddr_in>() as u32;
        a
    }

    fn v6(port: u16) -> Addr {
        let mut a: Addr = unsafe { zeroed() };
        let sin6 = unsafe { &mut *(&mut a.storage as *mut _ as *mut libc::sockaddr_in6) };
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = port.to_be();
        sin6.sin6_addr.s6_addr[15] = 1;
        a.len = size_of::<libc::sockaddr_in6>() as u32;
        a
    }

    fn unix(path: &str) -> Addr {
        let mut a: Addr = unsafe { zeroed() };
        let sun = unsafe { &mut *(&mut a.storage as *mut _ as *mut libc::sockaddr_un) };
        sun.sun_family = AF_UNIX;
        for (d, s) in sun.sun_path.iter_mut().zip(path.bytes()) {
            *d = s as libc::c_char;
        }
        // offsetof(sun_path) + the path + its NUL, as most programs pass it.
        a.len = (2 + path.len() + 1) as u32;
        a
    }

    fn empty() -> Addr {
        let mut a: Addr = unsafe { zeroed() };
        a.len = size_of::<libc::sockaddr_storage>() as u32;
        a
    }

    fn ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }

    fn port(&self) -> u16 {
        // sin_port and sin6_port sit at the same offset.
        let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
        u16::from_be(sin.sin_port)
    }
}

fn local_addr(fd: i32) -> Addr {
    let mut a = Addr::empty();
    check(
        unsafe {
            libc::getsockname(
                fd,
                &mut a.storage as *mut _ as *mut libc::sockaddr,
                &mut a.len,
            )
        },
        "getsockname",
    );
    a
}

impl Log {
    fn socket(&mut self, family: i32, ty: i32, expect: (u16, u16, u16)) -> i32 {
        let fd = check(unsafe { libc::socket(family, ty, 0) }, "socket");
        let mut e = ev("socket", expect);
        e.fd = Some(fd);
        e.inode = Some(inode_of(fd));
        self.0.push(e);
        fd
    }

    fn listen(&mut self, fd: i32, backlog: i32, sock: (u16, u16, u16)) {
        check(unsafe { libc::listen(fd, backlog) }, "listen");
        let mut e = ev("listen", sock);
        e.fd = Some(fd);
        e.inode = Some(inode_of(fd));
        (e.laddr, e.lport) = local_end(fd);
        e.backlog = Some(backlog as u32);
        self.0.push(e);
    }

    fn bind(&mut self, fd: i32, a: &Addr, sock: (u16, u16, u16), text: &str, port: Option<u16>) {
        check(unsafe { libc::bind(fd, a.ptr(), a.len) }, "bind");
        let mut e = ev("bind", sock);
        e.fd = Some(fd);
        e.inode = Some(inode_of(fd));
        (e.laddr, e.lport) = local_end(fd);
        e.addr = Some(text.to_string());
        e.port = port;
        self.0.push(e);
    }

    /// connect(2); returns the errno (0 on success), which is logged as is.
    fn connect(
        &mut self,
        fd: i32,
        a: &Addr,
        sock: (u16, u16, u16),
        text: &str,
        port: Option<u16>,
    ) -> i32 {
        let r = unsafe { libc::connect(fd, a.ptr(), a.len) };
        let err = if r < 0 { errno() } else { 0 };
        let mut e = ev("connect", sock);
        e.fd = Some(fd);
        e.inode = Some(inode_of(fd));
        (e.laddr, e.lport) = local_end(fd);
        if e.lport.is_some() && (err == 0 || err == libc::EINPROGRESS) {
            // The peer it connected (or is connecting) to; a refused
            // connect leaves the socket with none (tcp_done() after the
            // RST; the address asked for is in `addr`).
            (e.raddr, e.rport) = (Some(text.to_string()), port);
        }
        e.errno = (err != 0).then_some(err);
        e.addr = Some(text.to_string());
        e.port = port;
        self.0.push(e);
        err
    }

    /// accept(2) or accept4(2), with or without an address buffer; `peer`
    /// is what the capture should show as the address.
    fn accept(
        &mut self,
        fd: i32,
        four: bool,
        with_addr: bool,
        sock: (u16, u16, u16),
        peer: (Option<String>, Option<u16>),
    ) -> i32 {
        let mut a = Addr::empty();
        let (p, l) = if with_addr {
            (
                &mut a.storage as *mut _ as *mut libc::sockaddr,
                &mut a.len as *mut _,
            )
        } else {
            (std::ptr::null_mut(), std::ptr::null_mut())
        };
        let nfd = if four {
            unsafe { libc::accept4(fd, p, l, libc::SOCK_CLOEXEC) }
        } else {
            unsafe { libc::accept(fd, p, l) }
        };
        check(nfd, "accept");
        let mut e = ev(if four { "accept4" } else { "accept" }, sock);
        e.fd = Some(fd);
        e.fd2 = Some(nfd);
        e.inode = Some(inode_of(nfd));
        (e.laddr, e.lport) = local_end(nfd);
        if e.lport.is_some() {
            (e.raddr, e.rport) = (peer.0.clone(), peer.1);
        }
        e.addr = peer.0;
        e.port = peer.1;
        self.0.push(e);
        nfd
    }

    fn send(&mut self, fd: i32, n: usize, sock: (u16, u16, u16)) {
        let buf = vec![7u8; n];
        let r = unsafe { libc::send(fd, buf.as_ptr().cast(), n, 0) };
        assert_eq!(r, n as isize, "workload: short send");
        let mut e = ev("send", sock);
        e.bytes = Some(n as i64);
        e.inode = Some(inode_of(fd));
        self.0.push(e);
    }

    fn recv(&mut self, fd: i32, n: usize, sock: (u16, u16, u16)) {
        let mut buf = vec![0u8; n];
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), n, libc::MSG_WAITALL) };
        assert_eq!(r, n as isize, "workload: short recv");
        let mut e = ev("recv", sock);
        e.bytes = Some(n as i64);
        e.inode = Some(inode_of(fd));
        self.0.push(e);
    }
}

/// Waits until a non-blocking connect on `fd` has completed (poll for
/// POLLOUT, as programs do), and checks that it succeeded.
fn wait_writable(fd: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    check(unsafe { libc::poll(&mut p, 1, 5000) }, "poll");
    let mut err: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    check(
        unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut i32).cast(),
                &mut len,
            )
        },
        "getsockopt SO_ERROR",
    );
    assert_eq!(err, 0, "workload: non-blocking connect failed");
}

fn close(fd: i32) {
    unsafe { libc::close(fd) };
}

impl Log {
    /// close(2) of the last fd of a socket: `C INODE`.
    fn close(&mut self, fd: i32) {
        self.1.push(format!("C\t{}", inode_of(fd)));
        close(fd);
    }
}

/// TCP connect/accept and a message each way, over `family`'s loopback.
fn tcp(log: &mut Log, v6: bool, four: bool) {
    let (fam, text) = if v6 {
        (libc::AF_INET6, "::1")
    } else {
        (libc::AF_INET, "127.0.0.1")
    };
    let sock = (fam as u16, STREAM, TCP);
    let mk = |p| if v6 { Addr::v6(p) } else { Addr::v4(p) };
    let l = log.socket(fam, libc::SOCK_STREAM, sock);
    log.bind(l, &mk(0), sock, text, Some(0));
    log.listen(l, 8, sock);
    log.1.push(format!("L\t{}", inode_of(l)));
    let port = local_addr(l).port();
    let c = log.socket(fam, libc::SOCK_STREAM, sock);
    assert_eq!(log.connect(c, &mk(port), sock, text, Some(port)), 0);
    let cport = local_addr(c).port();
    let a = log.accept(l, four, true, sock, (Some(text.into()), Some(cport)));
    log.send(c, 100, sock);
    log.recv(a, 100, sock);
    log.send(a, 200, sock);
    log.recv(c, 200, sock);
    let session = |c, a, sent, received| Session {
        client: inode_of(c),
        server: inode_of(a),
        sent,
        received,
    };
    log.1.push(session(c, a, 100, 200).to_line());
    if !v6 {
        // accept with no address buffer: the peer comes from the kernel's socket.
        let c2 = log.socket(fam, libc::SOCK_STREAM, sock);
        assert_eq!(log.connect(c2, &mk(port), sock, text, Some(port)), 0);
        let c2port = local_addr(c2).port();
        let a2 = log.accept(l, false, false, sock, (Some(text.into()), Some(c2port)));
        log.1.push(session(c2, a2, 0, 0).to_line());
        // A non-blocking connect: on loopback it usually returns EINPROGRESS;
        // whatever it returns is what the capture must show.
        let nb = log.socket(fam, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, sock);
        log.connect(nb, &mk(port), sock, text, Some(port));
        wait_writable(nb);
        log.1.push(format!("N\t{}", inode_of(nb)));
        // A refused connect: nothing listens on port 1 in our namespace.
        let r = log.socket(fam, libc::SOCK_STREAM, sock);
        assert_eq!(
            log.connect(r, &mk(1), sock, text, Some(1)),
            libc::ECONNREFUSED
        );
        log.1.push(format!("F\t{}", inode_of(r)));
        for fd in [c2, a2, nb, r] {
            log.close(fd);
        }
    }
    for fd in [a, c, l] {
        log.close(fd);
    }
}

fn udp(log: &mut Log) {
    let sock = (AF_INET, DGRAM, UDP);
    let s = log.socket(libc::AF_INET, libc::SOCK_DGRAM, sock);
    log.bind(s, &Addr::v4(0), sock, "127.0.0.1", Some(0));
    let port = local_addr(s).port();
    let u = log.socket(libc::AF_INET, libc::SOCK_DGRAM, sock);
    assert_eq!(
        log.connect(u, &Addr::v4(port), sock, "127.0.0.1", Some(port)),
        0
    );
    log.send(u, 300, sock);
    log.recv(s, 300, sock);
    log.close(u);
    log.close(s);
}

fn unix(log: &mut Log, dir: &str) {
    let sock = (AF_UNIX, STREAM, 0);
    let path = format!("{dir}/wl.sock");
    let _ = std::fs::remove_file(&path);
    let l = log.socket(libc::AF_UNIX, libc::SOCK_STREAM, sock);
    log.bind(l, &Addr::unix(&path), sock, &path, None);
    log.listen(l, 8, sock);
    let c = log.socket(libc::AF_UNIX, libc::SOCK_STREAM, sock);
    assert_eq!(log.connect(c, &Addr::unix(&path), sock, &path, None), 0);
    // An unbound UNIX peer has no name: the kernel returns only sun_family.
    let a = log.accept(l, false, true, sock, (Some(String::new()), None));
    for fd in [a, c, l] {
        log.close(fd);
    }
    let _ = std::fs::remove_file(&path);
}

fn socketpair(log: &mut Log) {
    let sock = (AF_UNIX, STREAM, 0);
    let mut sv = [0i32; 2];
    check(
        unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()) },
        "socketpair",
    );
    let mut e = ev("socketpair", sock);
    e.fd = Some(sv[0]);
    e.fd2 = Some(sv[1]);
    e.inode = Some(inode_of(sv[0]));
    log.0.push(e);
    log.send(sv[0], 50, sock);
    log.recv(sv[1], 50, sock);
    log.close(sv[0]);
    log.close(sv[1]);
}

/// A bound UDP socket and one connected to it: (sender, receiver).
fn udp_pair() -> (i32, i32) {
    let s = check(
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) },
        "socket",
    );
    let a = Addr::v4(0);
    check(unsafe { libc::bind(s, a.ptr(), a.len) }, "bind");
    let dst = Addr::v4(local_addr(s).port());
    let u = check(
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) },
        "socket",
    );
    check(unsafe { libc::connect(u, dst.ptr(), dst.len) }, "connect");
    (u, s)
}

/// Enters a new network namespace with loopback up.
fn private_network() {
    check(
        unsafe { libc::unshare(libc::CLONE_NEWNET) },
        "unshare(CLONE_NEWNET)",
    );
    // SIOCSIFFLAGS on "lo" with IFF_UP, as `ip link set lo up` does.
    let fd = check(
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) },
        "socket",
    );
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as i16;
    check(
        unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) },
        "SIOCSIFFLAGS lo",
    );
    close(fd);
}

/// The child's whole life: never returns.
pub fn child_main(scenario: &str) -> ! {
    private_network();
    let name = CString::new(COMM).unwrap();
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
    let dir = std::env::var("SOCKREC_TEST_DIR").unwrap_or_else(|_| "/tmp".into());
    // Drop root now that the network is set up; nobody must be able to
    // make its UNIX socket in the test's directory.
    let cdir = CString::new(dir.as_str()).unwrap();
    check(unsafe { libc::chmod(cdir.as_ptr(), 0o777) }, "chmod");
    // `retransmit` keeps root: this kernel refuses its socket filter to
    // nobody (EPERM).
    if scenario != "retransmit" {
        check(unsafe { libc::setresgid(UID, UID, UID) }, "setresgid");
        check(unsafe { libc::setresuid(UID, UID, UID) }, "setresuid");
    }
    sockrec_devkit::workload::ready_then_wait_for_go().unwrap();
    let mut out = std::io::stdout().lock();
    match scenario {
        "known" => {
            let mut log = Log(Vec::new(), Vec::new());
            tcp(&mut log, false, false);
            tcp(&mut log, true, true);
            udp(&mut log);
            unix(&mut log, &dir);
            socketpair(&mut log);
            // Left blocked in accept(): in flight when recording stops.
            let sock = (AF_INET, STREAM, TCP);
            let l = log.socket(libc::AF_INET, libc::SOCK_STREAM, sock);
            log.bind(l, &Addr::v4(0), sock, "127.0.0.1", Some(0));
            log.listen(l, 8, sock);
            for e in &log.0 {
                writeln!(out, "{}", e.to_line()).unwrap();
            }
            for line in &log.1 {
                writeln!(out, "{line}").unwrap();
            }
            writeln!(out, "inflight {l}").unwrap();
            writeln!(out, "done").unwrap();
            out.flush().unwrap();
            unsafe { libc::accept(l, std::ptr::null_mut(), std::ptr::null_mut()) };
        }
        "passive" => {
            // A connection to our listener from another process (a child
            // of ours): the new socket's first state changes are made in
            // the connecting process, before our accept(2).
            let sock = (AF_INET, STREAM, TCP);
            let mut log = Log(Vec::new(), Vec::new());
            let l = log.socket(libc::AF_INET, libc::SOCK_STREAM, sock);
            log.bind(l, &Addr::v4(0), sock, "127.0.0.1", Some(0));
            log.listen(l, 8, sock);
            let port = local_addr(l).port();
            let child = unsafe { libc::fork() };
            if child == 0 {
                let c = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
                let a = Addr::v4(port);
                let ok = unsafe { libc::connect(c, a.ptr(), a.len) } == 0
                    && unsafe { libc::send(c, b"0123456789".as_ptr().cast(), 10, 0) } == 10;
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            check(child, "fork");
            let a = log.accept(l, false, true, sock, (None, None));
            let mut buf = [0u8; 10];
            let n = unsafe { libc::recv(a, buf.as_mut_ptr().cast(), 10, libc::MSG_WAITALL) };
            assert_eq!(n, 10, "workload: the child's bytes never came");
            let mut status = 0;
            check(unsafe { libc::waitpid(child, &mut status, 0) }, "waitpid");
            assert_eq!(status, 0, "workload: the connecting child failed");
            writeln!(out, "P\t{}\t{child}", inode_of(a)).unwrap();
            close(a);
            close(l);
            writeln!(out, "done").unwrap();
            out.flush().unwrap();
        }
        "retransmit" => {
            // A TCP connection whose receiver drops what arrives for a
            // while: the sender retransmits. The drop is a socket filter
            // (SO_ATTACH_FILTER, classic BPF `ret #0`) on the accepted
            // socket, which tcp_v4_rcv() applies before TCP sees the
            // segment (tcp_filter(), net/ipv4/tcp_ipv4.c): the segment is
            // lost on the way in, as with an nftables drop rule, but with
            // nothing to install and no privilege, on every kernel the
            // tests boot.
            let sock = (AF_INET, STREAM, TCP);
            let mut log = Log(Vec::new(), Vec::new());
            let l = log.socket(libc::AF_INET, libc::SOCK_STREAM, sock);
            log.bind(l, &Addr::v4(0), sock, "127.0.0.1", Some(0));
            log.listen(l, 8, sock);
            let port = local_addr(l).port();
            let c = log.socket(libc::AF_INET, libc::SOCK_STREAM, sock);
            log.connect(c, &Addr::v4(port), sock, "127.0.0.1", Some(port));
            let a = log.accept(l, false, true, sock, (None, None));
            let mut drop_all = [libc::sock_filter {
                code: (libc::BPF_RET | libc::BPF_K) as u16,
                jt: 0,
                jf: 0,
                k: 0,
            }];
            let prog = libc::sock_fprog {
                len: 1,
                filter: drop_all.as_mut_ptr(),
            };
            let set = |opt, val: *const libc::c_void, len| {
                check(
                    unsafe { libc::setsockopt(a, libc::SOL_SOCKET, opt, val, len) },
                    "setsockopt",
                )
            };
            set(
                libc::SO_ATTACH_FILTER,
                (&prog as *const libc::sock_fprog).cast(),
                size_of::<libc::sock_fprog>() as u32,
            );
            let buf = [1u8; 1000];
            check(
                unsafe { libc::send(c, buf.as_ptr().cast(), buf.len(), 0) } as i32,
                "send",
            );
            // The first retransmit comes after the RTO, at least 200 ms
            // (TCP_RTO_MIN), or sooner as a tail loss probe.
            std::thread::sleep(std::time::Duration::from_millis(700));
            // (An int's room: setsockopt(2) refuses anything shorter.)
            let zero: i32 = 0;
            set(
                libc::SO_DETACH_FILTER,
                (&zero as *const i32).cast(),
                size_of::<i32>() as u32,
            );
            let mut got = [0u8; 1000];
            let n = unsafe { libc::recv(a, got.as_mut_ptr().cast(), got.len(), libc::MSG_WAITALL) };
            assert_eq!(n, 1000, "workload: the retransmitted data never came");
            let lport = local_addr(c).port();
            writeln!(out, "R\t{lport}\t{port}\t{}", inode_of(c)).unwrap();
            for fd in [a, c, l] {
                close(fd);
            }
            writeln!(out, "done").unwrap();
            out.flush().unwrap();
        }
        "hostile" => {
            let name = CString::new(HOSTILE_COMM).unwrap();
            unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
            let mut log = Log(Vec::new(), Vec::new());
            let path = format!("{dir}/{HOSTILE_SOCKET}");
            let sock = (AF_UNIX, STREAM, 0);
            let u = log.socket(libc::AF_UNIX, libc::SOCK_STREAM, sock);
            log.bind(u, &Addr::unix(&path), sock, &path, None);
            let sock = (AF_INET, STREAM, TCP);
            let t = log.socket(libc::AF_INET, libc::SOCK_STREAM, sock);
            log.connect(t, &Addr::v4(1), sock, "127.0.0.1", Some(1));
            for fd in [u, t] {
                close(fd);
            }
            let _ = std::fs::remove_file(&path);
            writeln!(out, "done").unwrap();
            out.flush().unwrap();
        }
        s if s.starts_with("udp-count ") => {
            let n: u64 = s["udp-count ".len()..].parse().expect("udp-count N");
            let (u, s) = udp_pair();
            let mut buf = [0u8; 64];
            for _ in 0..n {
                unsafe {
                    check(libc::send(u, buf.as_ptr().cast(), 32, 0) as i32, "send");
                    check(libc::recv(s, buf.as_mut_ptr().cast(), 64, 0) as i32, "recv");
                }
            }
            writeln!(out, "did {n}").unwrap();
            out.flush().unwrap();
        }
        "udp-loop" => {
            let (u, s) = udp_pair();
            writeln!(out, "looping").unwrap();
            out.flush().unwrap();
            let mut buf = [0u8; 64];
            loop {
                unsafe {
                    libc::send(u, buf.as_ptr().cast(), 32, 0);
                    libc::recv(s, buf.as_mut_ptr().cast(), 64, 0);
                }
            }
        }
        other => panic!("unknown workload {other}"),
    }
    std::process::exit(0)
}
