//! The processes a benchmark runs: the workload, `sockrec record`, bpftrace;
//! and what the kernel tells about them (their BPF programs' run counts and
//! times, their CPU time and peak RSS).
//!
//! The workload runs as a child process rather than in the bench process:
//! - its CPU and scheduling are its own, not mixed with the bench reading
//!   `/proc` or a recorder's stderr;
//! - it has its own pid and comm (`bench-udp`, `bench-tcp`), so a recording
//!   can be filtered to exactly its events (`--comm`), as the size part does;
//! - several can run at once, as the throughput part needs.

use anyhow::{Context as _, Result, bail};
use std::{
    collections::BTreeMap,
    ffi::{CStr, CString},
    io::{BufRead as _, BufReader},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use super::env::Env;
use crate::workload;

// ---------------------------------------------------------------- workload

/// The child side of [`Workload`]: `xtask bench --workload KIND SECS`.
/// Prints `ops N elapsed_ns M` on stdout.
pub fn workload_child(kind: &str, secs: &str) -> Result<()> {
    let secs: f64 = secs.parse().context("SECONDS must be a number")?;
    // Named before the first socket call, so a `--comm` filter sees them all.
    let comm = CString::new(comm_of(kind)).expect("no NUL");
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
    let (ops, elapsed) = workload::run_timed(kind, Duration::from_secs_f64(secs))?;
    println!("ops {ops} elapsed_ns {}", elapsed.as_nanos());
    Ok(())
}

/// The comm the workload child of `kind` runs under.
pub fn comm_of(kind: &str) -> String {
    format!("bench-{kind}")
}

/// One run of a workload: how many operations, in how long.
#[derive(Clone, Copy, Debug)]
pub struct WorkloadRun {
    pub ops: u64,
    pub elapsed: Duration,
    pub events_per_op: u64,
}

impl WorkloadRun {
    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn events(&self) -> u64 {
        self.ops * self.events_per_op
    }
    pub fn events_per_s(&self) -> f64 {
        self.ops_per_s() * self.events_per_op as f64
    }
}

/// A running workload child.
pub struct Workload {
    child: Child,
    kind: String,
}

impl Workload {
    pub fn spawn(env: &Env, kind: &str, dur: Duration) -> Result<Workload> {
        let mut cmd = Command::new(&env.xtask);
        cmd.args(["bench", "--workload", kind])
            .arg(format!("{}", dur.as_secs_f64()))
            .stdout(Stdio::piped());
        die_with_parent(&mut cmd, libc::SIGKILL);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", env.xtask.display()))?;
        Ok(Workload {
            child,
            kind: kind.to_string(),
        })
    }

    pub fn wait(self) -> Result<WorkloadRun> {
        let out = self.child.wait_with_output()?;
        if !out.status.success() {
            bail!("workload {} failed: {}", self.kind, out.status);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| -> Option<u64> {
            let mut it = text.split_whitespace();
            it.find(|w| *w == name)?;
            it.next()?.parse().ok()
        };
        match (field("ops"), field("elapsed_ns")) {
            (Some(ops), Some(ns)) => Ok(WorkloadRun {
                ops,
                elapsed: Duration::from_nanos(ns),
                events_per_op: workload::events_per_op(&self.kind),
            }),
            _ => bail!("workload {}: unexpected output {text:?}", self.kind),
        }
    }
}

/// Runs one workload child to the end.
pub fn run_workload(env: &Env, kind: &str, dur: Duration) -> Result<WorkloadRun> {
    Workload::spawn(env, kind, dur)?.wait()
}

/// Runs several workload children at once; their runs in the same order.
pub fn run_workloads(env: &Env, kinds: &[&str], dur: Duration) -> Result<Vec<WorkloadRun>> {
    let children = kinds
        .iter()
        .map(|k| Workload::spawn(env, k, dur))
        .collect::<Result<Vec<_>>>()?;
    children.into_iter().map(Workload::wait).collect()
}

// ---------------------------------------------------------------- waiting

/// How a child ended, with what `wait4` says it used.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub success: bool,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size, KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
}

/// Reaps `pid` with `wait4` (for its rusage, which `std` does not give),
/// sending SIGKILL if it has not exited after `timeout`.
fn reap(pid: i32, timeout: Duration) -> Result<Usage> {
    let deadline = Instant::now() + timeout;
    let mut killed = false;
    loop {
        let mut status = 0;
        // SAFETY: plain syscall on our own child, with out-pointers to locals.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            return Ok(Usage {
                success: !killed && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
                max_rss_kib: ru.ru_maxrss as u64,
            });
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).context("wait4");
            }
        }
        if !killed && Instant::now() > deadline {
            eprintln!("bench: pid {pid} did not exit in {timeout:?}: SIGKILL");
            signal(pid, libc::SIGKILL);
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: a signal to our own child, not yet reaped (so the pid is ours).
    unsafe { libc::kill(pid, sig) };
}

/// Reads a child's stderr lines on a thread (so its pipe never fills), and
/// lets the caller wait for a line.
struct Lines {
    all: Arc<Mutex<Vec<String>>>,
    rx: mpsc::Receiver<String>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lines {
    fn new(stderr: impl std::io::Read + Send + 'static) -> Lines {
        let all = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let keep = all.clone();
        let thread = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Lines {
            all,
            rx,
            thread: Some(thread),
        }
    }

    /// Waits for a line containing `needle`; None if the stream ended or
    /// `timeout` passed first.
    fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Every line, once the stream has ended.
    fn finish(mut self) -> Vec<String> {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.all.lock().unwrap())
    }

    fn so_far(&self) -> String {
        self.all.lock().unwrap().join("\n")
    }
}

// ---------------------------------------------------------------- sockrec

/// A running `sockrec record`. Dropped without [`Recorder::stop`] (a part
/// failed half-way), it stops the recorder rather than leave it running.
pub struct Recorder {
    pid: i32,
    lines: Option<Lines>,
    pub output: PathBuf,
    reaped: bool,
    // Kept so the Child (and its stdio handles) lives as long as the process.
    _child: Child,
}

/// What a recording did, from its last line and `wait4`.
#[derive(Clone, Debug)]
pub struct Recording {
    pub events: u64,
    pub lost: u64,
    pub usage: Usage,
    /// Size of the capture on disk.
    pub file_bytes: u64,
}

impl Recorder {
    /// Starts `sockrec record -q -o OUTPUT --force EXTRA...` and waits until
    /// it says it is recording (its programs are attached).
    pub fn start(env: &Env, output: &Path, extra: &[&str]) -> Result<Recorder> {
        Self::start_niced(env, output, extra, 0)
    }

    /// [`Recorder::start`] at scheduling priority `nice` (through `nice(1)`,
    /// which execs sockrec, so the pid is still the recorder's).
    pub fn start_niced(env: &Env, output: &Path, extra: &[&str], nice: i32) -> Result<Recorder> {
        let mut cmd = Command::new("nice");
        cmd.arg(format!("-n{nice}"))
            .arg(&env.sockrec)
            .args(["record", "-q", "--force", "-o"])
            .arg(output)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SIGTERM: the recorder finishes its file.
        die_with_parent(&mut cmd, libc::SIGTERM);
        let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let pid = child.id() as i32;
        let lines = Lines::new(child.stderr.take().unwrap());
        if lines
            .wait_for("sockrec: recording to", Duration::from_secs(120))
            .is_none()
        {
            signal(pid, libc::SIGKILL);
            let _ = reap(pid, Duration::from_secs(10));
            bail!("{cmd:?} did not start recording: {}", lines.so_far());
        }
        Ok(Recorder {
            pid,
            lines: Some(lines),
            output: output.to_path_buf(),
            reaped: false,
            _child: child,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Stops the recording (SIGTERM: the recorder finishes the file) and
    /// reads what it did.
    pub fn stop(self) -> Result<Recording> {
        signal(self.pid, libc::SIGTERM);
        self.wait()
    }

    /// Waits for a recording with `-d` to end by itself.
    pub fn wait(mut self) -> Result<Recording> {
        let usage = reap(self.pid, Duration::from_secs(300));
        self.reaped = true;
        let usage = usage?;
        let lines = self.lines.take().map(Lines::finish).unwrap_or_default();
        let summary = lines
            .iter()
            .rev()
            .find(|l| l.starts_with("sockrec: wrote "))
            .cloned();
        let Some(summary) = summary.filter(|_| usage.success) else {
            bail!("sockrec record failed: {}", lines.join("\n"));
        };
        let number_after = |word: &str| -> Option<u64> {
            let rest = &summary[summary.find(word)? + word.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        Ok(Recording {
            events: number_after("wrote ").context("no event count")?,
            lost: number_after("lost ").context("no lost count")?,
            usage,
            file_bytes: std::fs::metadata(&self.output).map_or(0, |m| m.len()),
        })
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.reaped {
            signal(self.pid, libc::SIGTERM);
            let _ = reap(self.pid, Duration::from_secs(30));
        }
    }
}

// ---------------------------------------------------------------- bpftrace

/// One of the seed's tools, adapted to this kernel (see the header of each
/// script in `bench/`).
pub struct Script {
    pub name: &'static str,
    pub file: &'static str,
    /// How many tracepoints it attaches: attached once `bpftool perf show`
    /// lists that many for its pid (bpftrace 0.17 attaches tracepoints with
    /// perf events, not BPF links, and prints nothing when done).
    pub attach_points: usize,
    /// Whether its `sys_enter_*` programs are events of their own (sockstat
    /// counts entries) or the first half of one (soconnect times calls).
    pub counts_entries: bool,
}

pub const SOCKSTAT: Script = Script {
    name: "sockstat",
    file: "bench/sockstat.bt",
    // accept, accept4, connect, bind, socket, socketpair, send, recv
    attach_points: 8,
    counts_entries: true,
};

pub const SOCONNECT: Script = Script {
    name: "soconnect",
    file: "bench/soconnect.bt",
    attach_points: 2,
    counts_entries: false,
};

/// A running bpftrace, its output to /dev/null (soconnect prints per
/// event: the wakeups that costs are part of what is measured).
pub struct Bpftrace {
    pid: i32,
    _child: Child,
    stderr: PathBuf,
    reaped: bool,
}

impl Bpftrace {
    pub fn start(env: &Env, script: &Script) -> Result<Bpftrace> {
        let stderr = env.scratch(&format!("bpftrace-{}.stderr", script.name));
        let mut cmd = Command::new("bpftrace");
        cmd.arg(env.root.join(script.file))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr)?);
        die_with_parent(&mut cmd, libc::SIGTERM);
        let mut child = cmd.spawn().context("starting bpftrace")?;
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let attached = crate::output(Command::new("bpftool").args(["perf", "show"]))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with(&format!("pid {pid} ")) && l.contains("tracepoint"))
                .count();
            if attached >= script.attach_points {
                break;
            }
            let exited = child.try_wait()?.is_some();
            if exited || Instant::now() > deadline {
                if !exited {
                    signal(pid, libc::SIGKILL);
                    let _ = child.wait();
                }
                bail!(
                    "bpftrace {} did not attach ({attached} of {} tracepoints): {}",
                    script.file,
                    script.attach_points,
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Bpftrace {
            pid,
            _child: child,
            stderr,
            reaped: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Stops it as Ctrl-C would (it prints its maps, to /dev/null, and exits).
    pub fn stop(mut self) -> Result<()> {
        signal(self.pid, libc::SIGINT);
        let usage = reap(self.pid, Duration::from_secs(60));
        self.reaped = true;
        if !usage?.success {
            bail!(
                "bpftrace failed: {}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
        }
        Ok(())
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        if !self.reaped {
            signal(self.pid, libc::SIGINT);
            let _ = reap(self.pid, Duration::from_secs(30));
        }
    }
}

// ---------------------------------------------------------------- programs

/// One loaded BPF program and its counters (non-zero only while
/// `kernel.bpf_stats_enabled` is on).
#[derive(Clone, Debug)]
pub struct Prog {
    pub id: u32,
    pub name: String,
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

impl Prog {
    pub fn ns_per_run(&self) -> f64 {
        self.run_time_ns as f64 / self.run_cnt.max(1) as f64
    }
}

/// The BPF programs process `pid` holds, with their counters.
///
/// Found through the process's own file descriptors (`/proc/PID/fdinfo`
/// shows `prog_id`, `run_time_ns` and `run_cnt` of a BPF program fd), not
/// through a list of every program: other recorders may be running at the
/// same time (tests), with programs of the same names. Names come from
/// `bpftool prog show`: the kernel keeps 15 characters, bpftool the full
/// name when the program has BTF (sockrec's do, bpftrace's don't).
pub fn progs_of(pid: i32) -> Result<Vec<Prog>> {
    let mut progs = BTreeMap::new();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("reading /proc/{pid}/fd"))?;
    for fd in fds.flatten() {
        let is_prog = std::fs::read_link(fd.path())
            .is_ok_and(|t| t.to_string_lossy() == "anon_inode:bpf-prog");
        if !is_prog {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let field = |name: &str| -> Option<u64> {
            info.lines()
                .find_map(|l| l.strip_prefix(name))?
                .trim_start_matches(':')
                .trim()
                .parse()
                .ok()
        };
        if let Some(id) = field("prog_id") {
            progs.insert(
                id as u32,
                Prog {
                    id: id as u32,
                    name: String::new(),
                    run_cnt: field("run_cnt").unwrap_or(0),
                    run_time_ns: field("run_time_ns").unwrap_or(0),
                },
            );
        }
    }
    // "ID: TYPE  name NAME  tag ..."
    let listing = crate::output(Command::new("bpftool").args(["prog", "show"])).unwrap_or_default();
    for line in listing.lines() {
        let Some((id, rest)) = line.split_once(": ") else {
            continue;
        };
        let Ok(id) = id.trim().parse::<u32>() else {
            continue;
        };
        if let Some(p) = progs.get_mut(&id) {
            let mut words = rest.split_whitespace();
            if words.any(|w| w == "name") {
                p.name = words.next().unwrap_or("").to_string();
            }
        }
    }
    for p in progs.values_mut() {
        if p.name.is_empty() {
            p.name = format!("prog{}", p.id);
        }
    }
    Ok(progs.into_values().collect())
}

/// Sets `kernel.bpf_stats_enabled` and puts the old value back when dropped,
/// or when the bench is interrupted (see [`on_interrupt_restore`]).
///
/// Counting costs two clock reads per program run, so it is on for the
/// kernel part only, and off while the overhead part times workloads.
pub struct BpfStats {
    saved: u8,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";
const BPF_STATS_C: &CStr = c"/proc/sys/kernel/bpf_stats_enabled";
/// The value to put back if a signal ends the bench: `b'0'`/`b'1'`, or 0
/// when nothing is to be restored. Read by the signal handler.
static SAVED_STATS: AtomicU8 = AtomicU8::new(0);

impl BpfStats {
    pub fn set(on: bool) -> Result<BpfStats> {
        let saved = match std::fs::read_to_string(BPF_STATS)
            .with_context(|| format!("reading {BPF_STATS}"))?
            .trim()
        {
            "0" => b'0',
            _ => b'1',
        };
        SAVED_STATS.store(saved, Ordering::SeqCst);
        std::fs::write(BPF_STATS, if on { "1" } else { "0" })
            .with_context(|| format!("writing {BPF_STATS}"))?;
        Ok(BpfStats { saved })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, [self.saved]);
        SAVED_STATS.store(0, Ordering::SeqCst);
    }
}

/// Makes SIGINT, SIGTERM and SIGHUP put `kernel.bpf_stats_enabled` back
/// before the bench dies of them (the children see to themselves: Ctrl-C
/// reaches them too, and each has a parent-death signal).
pub fn on_interrupt_restore() {
    extern "C" fn handler(sig: libc::c_int) {
        // Only async-signal-safe calls: open, write, close, signal, raise.
        let v = SAVED_STATS.load(Ordering::SeqCst);
        // SAFETY: a NUL-terminated path, a one-byte buffer that lives here.
        unsafe {
            if v != 0 {
                let fd = libc::open(BPF_STATS_C.as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, (&v as *const u8).cast(), 1);
                    libc::close(fd);
                }
            }
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installs a handler that only makes async-signal-safe calls.
        unsafe { libc::signal(sig, handler as *const () as libc::sighandler_t) };
    }
}

/// Has `cmd`'s process get `sig` when the bench dies, so a killed bench
/// leaves no recorder (which without `-d` would record forever), bpftrace
/// or workload behind.
fn die_with_parent(cmd: &mut Command, sig: libc::c_int) {
    // SAFETY: prctl is async-signal-safe, fine between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, sig);
            Ok(())
        });
    }
}

// ---------------------------------------------------------------- misc

/// Current resident set size of `pid`, KiB (`VmRSS`).
pub fn rss_kib(pid: i32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The median of some figures (the mean of the middle two for an even
/// count); NaN for none.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// CPU time (user + system) `pid` has used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The comm is in parentheses and may hold spaces.
    stat_cpu(&stat[stat.rfind(')')?..])
}

/// CPU time (user + system) of each thread of process `pid`, by thread
/// name (`/proc/PID/task/TID/stat`); threads of the same name are summed.
pub fn thread_cpu_times(pid: i32) -> Vec<(String, Duration)> {
    let mut out: Vec<(String, Duration)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let Some(cpu) = stat_cpu(&stat[close..]) else {
            continue;
        };
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += cpu,
            None => out.push((name, cpu)),
        }
    }
    out
}

/// utime + stime from the part of a `stat` line from the `)` that ends
/// the comm on.
fn stat_cpu(rest: &str) -> Option<Duration> {
    // Fields after the comm: state is field 3, utime 14 and stime 15.
    let f: Vec<&str> = rest.get(2..)?.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A named thread's CPU shows under its name, apart from the others.
    #[test]
    fn thread_cpu_by_name() {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (busy_tx, busy_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name("cpu-by-name".into())
            .spawn(move || {
                let start = std::time::Instant::now();
                while start.elapsed() < Duration::from_millis(100) {
                    std::hint::black_box(0u64);
                }
                busy_tx.send(()).unwrap();
                done_rx.recv().unwrap();
            })
            .unwrap();
        busy_rx.recv().unwrap();
        let threads = thread_cpu_times(std::process::id() as i32);
        done_tx.send(()).unwrap();
        t.join().unwrap();
        let cpu = threads.iter().find(|(n, _)| n == "cpu-by-name");
        // 100 ms of spinning; clock ticks are 10 ms.
        assert!(
            cpu.is_some_and(|(_, c)| *c >= Duration::from_millis(50)),
            "{threads:?}"
        );
    }

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn workload_rates() {
        let w = WorkloadRun {
            ops: 1000,
            elapsed: Duration::from_millis(500),
            events_per_op: 2,
        };
        assert_eq!(w.ops_per_s(), 2000.0);
        assert_eq!(w.events(), 2000);
        assert_eq!(w.events_per_s(), 4000.0);
    }

    #[test]
    fn our_own_cpu_time_and_rss_are_readable() {
        let me = std::process::id() as i32;
        assert!(cpu_time(me).is_some());
        assert!(rss_kib(me).is_some_and(|k| k > 0));
    }
}
