//! Part 7, fleet: the four reports over many hosts' captures, run locally
//! (`sockrec query`) and on a local Ballista cluster of 1 and 2 executors
//! (`sockrec cluster`, `query --cluster`), each time and the speedup.
//!
//! The captures: a busy recording (as the query part records it, or
//! `--capture`) rewritten as 8 hosts' (`parquet_io::repeat_as`: the host
//! name, its times shifted), 50M events in all (5M with `--quick`). Each
//! figure is the median of the timed runs after one untimed, the whole
//! `sockrec query ... --format csv > /dev/null` process.
//!
//! What this machine limits: its 2 cores hold the client, the scheduler
//! and every executor at once, so a second executor adds no core; the
//! cluster's figures here measure what Ballista's planning, shuffles and
//! Arrow Flight add over DataFusion in one process. On machines of their
//! own, executors add the cores (and disks) of theirs.

use anyhow::{Context as _, Result, bail};
use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::parquet_io;
use super::query::{REPORTS, record_busy};
use super::report::{Report, Status, median, si};
use super::{Options, env::Env};

const HOSTS: usize = 8;

pub fn run(env: &Env, opts: &Options, report: &mut Report) -> Result<()> {
    let runs = if opts.quick { 1 } else { 3 };
    let total: u64 = if opts.quick { 5_000_000 } else { 50_000_000 };
    let src = match &opts.capture {
        Some(p) => p.clone(),
        None => record_busy(env, opts)?,
    };
    let dir = env.scratch("fleet");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut rows = 0;
    for i in 0..HOSTS {
        let host = format!("host-{i:02}");
        eprintln!("bench: fleet: writing {host}'s capture");
        // A millisecond apart and a bit: the hosts' events interleave.
        let late = i as u64 * 1_003_000;
        rows += parquet_io::repeat_as(
            &src,
            &dir.join(format!("{host}.parquet")),
            total / HOSTS as u64,
            Some((&host, late)),
        )?;
    }
    let bytes: u64 = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    report.say(format!(
        "Captures: {HOSTS} hosts, {} events, {} bytes ({} rewritten per host); \
         median of {runs} timed run(s) after one untimed; the cluster on this machine's \
         loopback, scheduler and executors as `sockrec cluster` processes.",
        si(rows as f64),
        si(bytes as f64),
        src.display()
    ));
    report.say(String::new());

    let input = dir.display().to_string();
    let mut local = Vec::new();
    for name in REPORTS {
        eprintln!("bench: fleet: sockrec query {name}, locally");
        local.push(time_query(env, name, &input, None, runs)?);
    }
    let mut on = Vec::new();
    for executors in [1, 2] {
        let cluster = Cluster::start(env, executors)?;
        let mut times = Vec::new();
        for name in REPORTS {
            eprintln!("bench: fleet: sockrec query {name}, {executors} executor(s)");
            times.push(time_query(env, name, &input, Some(&cluster.url), runs)?);
        }
        on.push(times);
    }
    let mut table = Vec::new();
    for (i, name) in REPORTS.iter().enumerate() {
        let (l, one, two) = (local[i], on[0][i], on[1][i]);
        table.push(vec![
            format!("`{name}`"),
            format!("{l:.2}"),
            format!("{one:.2}"),
            format!("{two:.2}"),
            format!("{:.2}x", l / two),
            format!("{:.2}x", one / two),
        ]);
        report.figure(
            format!(
                "`{name}` on {} events of {HOSTS} hosts: local / 2 executors",
                si(rows as f64)
            ),
            format!(
                "{:.2}x ({l:.2} s locally, {one:.2} s on 1 executor, {two:.2} s on 2)",
                l / two
            ),
            "(2 cores: no target)",
            Status::Info,
        );
    }
    report.table(
        &[
            "report",
            "local (s)",
            "1 executor (s)",
            "2 executors (s)",
            "speedup, local / 2",
            "speedup, 1 / 2",
        ],
        &table,
    );
    Ok(())
}

/// Median wall time of `sockrec query NAME -i INPUT [--cluster URL] --format csv > /dev/null`.
fn time_query(
    env: &Env,
    name: &str,
    input: &str,
    cluster: Option<&str>,
    runs: usize,
) -> Result<f64> {
    let mut times = Vec::new();
    for i in 0..=runs {
        let mut cmd = Command::new(&env.sockrec);
        cmd.args(["query", name, "-i", input, "--format", "csv"]);
        if let Some(url) = cluster {
            cmd.args(["--cluster", url]);
        }
        let started = Instant::now();
        let out = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("running sockrec query")?;
        let t = started.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "sockrec query {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        if i > 0 {
            times.push(t);
        }
    }
    Ok(median(&times))
}

/// `sockrec cluster scheduler` and `executors` executors on loopback,
/// killed on drop.
struct Cluster {
    children: Vec<Child>,
    url: String,
}

impl Cluster {
    fn start(env: &Env, executors: usize) -> Result<Cluster> {
        let mut scheduler = Command::new(&env.sockrec)
            .args([
                "cluster",
                "scheduler",
                "--bind-host",
                "127.0.0.1",
                "--bind-port",
                "0",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .context("starting sockrec cluster scheduler")?;
        let mut line = String::new();
        BufReader::new(scheduler.stderr.take().expect("piped")).read_line(&mut line)?;
        let mut cluster = Cluster {
            children: vec![scheduler],
            url: String::new(),
        };
        let port: u16 = line
            .split("listening on 127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(':').next()?.parse().ok())
            .with_context(|| format!("the scheduler said {line:?}"))?;
        cluster.url = format!("df://127.0.0.1:{port}");
        for i in 0..executors {
            let (flight, tasks) = (free_port()?, free_port()?);
            let work = env.scratch(&format!("fleet-executor-{i}"));
            let child = Command::new(&env.sockrec)
                .args([
                    "cluster",
                    "executor",
                    "--scheduler",
                    &format!("127.0.0.1:{port}"),
                ])
                .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
                .args(["--bind-port", &flight.to_string()])
                .args(["--bind-grpc-port", &tasks.to_string()])
                .arg("--work-dir")
                .arg(work)
                .stderr(Stdio::null())
                .spawn()
                .context("starting sockrec cluster executor")?;
            cluster.children.push(child);
            wait_listening(flight)?;
            wait_listening(tasks)?;
        }
        // Registered with their first heartbeat, once listening.
        std::thread::sleep(Duration::from_secs(2));
        Ok(cluster)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wait_listening(port: u16) -> Result<()> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("nothing listens on {addr} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
