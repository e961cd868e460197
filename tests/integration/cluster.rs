//! `sockrec query --cluster`: a real Ballista cluster of sockrec processes
//! (`sockrec cluster scheduler`, two `sockrec cluster executor`s) on
//! loopback ports, as a user runs one. Checked as a user would: every
//! report and sockrec's functions print byte for byte what the local run
//! prints, over local captures and over `s3://` (moto's server, as in
//! store.rs); a lost executor's tasks run on the other one; with none
//! left, the query fails in one line, not a hang.
//!
//! Nothing here needs root.

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::query::{ALL_REPORTS, fixture};
use crate::store::{S3Server, Vars, upload, with_env};
use crate::{
    ensure,
    util::{self, TempDir, TestResult, Tests},
};

pub const TESTS: Tests = crate::tests![
    reports_on_a_cluster_print_what_local_runs_print,
    s3_captures_on_a_cluster,
];

/// A scheduler and two executors, each a `sockrec cluster` process,
/// killed on drop.
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    url: String,
    _work: TempDir,
}

impl Cluster {
    /// Starts it with `vars` in every process's environment (the AWS
    /// settings: each process reads s3:// captures itself).
    fn start(vars: &Vars) -> Result<Cluster, String> {
        let work = TempDir::new("cluster");
        let mut cmd = util::sockrec();
        with_env(cmd.args(["cluster", "scheduler"]), vars)
            .args(["--bind-host", "127.0.0.1", "--bind-port", "0"])
            // A lost executor noticed within seconds, not Ballista's 3 min.
            .args(["--executor-timeout-seconds", "4"])
            .args(["--expire-dead-executor-interval-seconds", "1"])
            .stderr(Stdio::piped());
        let mut scheduler = cmd.spawn().map_err(|e| format!("scheduler: {e}"))?;
        // "sockrec: scheduler listening on 127.0.0.1:PORT: ..."
        let mut line = String::new();
        let stderr = scheduler.stderr.take().expect("piped");
        BufReader::new(stderr)
            .read_line(&mut line)
            .map_err(|e| format!("scheduler: {e}"))?;
        let port = line
            .split("listening on 127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(':').next()?.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = scheduler.kill();
            return Err(format!("scheduler said {line:?}"));
        };
        let mut cluster = Cluster {
            scheduler,
            executors: Vec::new(),
            url: format!("df://127.0.0.1:{port}"),
            _work: work,
        };
        for i in 0..2 {
            let (flight, tasks) = (free_port()?, free_port()?);
            let mut cmd = util::sockrec();
            with_env(cmd.args(["cluster", "executor"]), vars)
                .args(["--scheduler", &format!("127.0.0.1:{port}")])
                .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
                .args(["--bind-port", &flight.to_string()])
                .args(["--bind-grpc-port", &tasks.to_string()])
                .args(["--executor-heartbeat-interval-seconds", "1"])
                .arg("--work-dir")
                .arg(cluster._work.path().join(format!("executor-{i}")))
                .stderr(Stdio::null());
            let child = cmd.spawn().map_err(|e| format!("executor: {e}"))?;
            cluster.executors.push(child);
            for p in [flight, tasks] {
                listening(p, &mut cluster.executors[i])?;
            }
        }
        // Both registered: they do on their first heartbeat, once listening.
        std::thread::sleep(Duration::from_secs(2));
        Ok(cluster)
    }

    /// Kills executor `i` outright, as a machine that went away.
    fn kill_executor(&mut self, i: usize) {
        let _ = self.executors[i].kill();
        let _ = self.executors[i].wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("a free port: {e}"))
}

/// Waits until `port` accepts, while `child` runs.
fn listening(port: u16, child: &mut Child) -> TestResult {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the executor exited ({status}) before listening on {port}"
            ));
        }
        ensure!(
            started.elapsed() < Duration::from_secs(60),
            "nothing listens on {addr} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// `sockrec query ARGS` with `vars`, within 120 s; its output.
fn query(vars: &Vars, args: &[String]) -> Result<std::process::Output, String> {
    let mut cmd = util::sockrec();
    run_within(with_env(cmd.arg("query").args(args), vars))
}

/// [`query`], which must succeed; its stdout.
fn query_ok(vars: &Vars, args: &[String]) -> Result<String, String> {
    let out = query(vars, args)?;
    ensure!(
        out.status.success(),
        "query {args:?}: {}",
        util::stderr(&out)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `-i` before each input.
fn inputs(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|i| ["-i".to_string(), i.clone()])
        .collect()
}

/// Every report in tool and csv format, and SQL calling sockrec's
/// functions, printed on the cluster and locally, compared byte for byte.
/// `hosts`: the two hosts' captures; `conn`: the format v2 capture.
fn same_on_cluster(
    cluster: &Cluster,
    vars: &Vars,
    hosts: &[String],
    conn: &[String],
) -> TestResult {
    let all = [hosts, conn].concat();
    let on = ["--cluster".to_string(), cluster.url.clone()];
    let mut runs: Vec<Vec<String>> = Vec::new();
    for (report, v1) in ALL_REPORTS {
        // A v1 report over all three captures: a union of three on the
        // cluster (see analyzer/src/session.rs, plain_strings).
        let over = if v1 { &all } else { &conn.to_vec() };
        for format in ["tool", "csv"] {
            runs.push([strings(&[report, "--format", format]), inputs(over)].concat());
        }
    }
    let functions = "SELECT host, kind, af_name(addr_family) AS family, \
        errno_name(errno) AS errno, count(*) AS n FROM events \
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
    runs.push([strings(&["-e", functions, "--format", "csv"]), inputs(&all)].concat());
    for args in runs {
        let want = query_ok(vars, &args)?;
        let got = query_ok(vars, &[args.clone(), on.to_vec()].concat())?;
        ensure!(
            got == want,
            "{args:?} on the cluster\n{got}\nlocally\n{want}"
        );
        ensure!(!want.trim().is_empty(), "{args:?} printed nothing");
    }
    Ok(())
}

/// The reports over local captures on the cluster print what they print
/// locally; with one executor killed, the other runs the tasks; with
/// both gone, a query fails in one line within the scheduler's grace
/// period, and a scheduler that is not there is one line too.
fn reports_on_a_cluster_print_what_local_runs_print() -> TestResult {
    let vars: Vars = Vec::new();
    let mut cluster = Cluster::start(&vars)?;
    let path = |name: &str| fixture(name).display().to_string();
    let hosts = vec![path("host-a"), path("host-b")];
    let conn = vec![path("connections")];
    same_on_cluster(&cluster, &vars, &hosts, &conn)?;

    // One executor lost: its tasks go to the other (a retried result).
    cluster.kill_executor(0);
    let args = [
        strings(&["soconnect", "--cluster", &cluster.url]),
        inputs(&[hosts.clone(), conn.clone()].concat()),
    ]
    .concat();
    let want = query_ok(&vars, &args[..args.len()])?;
    let local: Vec<String> = args
        .iter()
        .filter(|a| **a != cluster.url && *a != "--cluster")
        .cloned()
        .collect();
    ensure!(
        want == query_ok(&vars, &local)?,
        "soconnect with one executor lost differs from the local run"
    );

    // None left: one line, once the scheduler gives up on them (4 s).
    cluster.kill_executor(1);
    let started = Instant::now();
    let out = query(&vars, &args)?;
    ensure!(!out.status.success(), "a query with no executor succeeded");
    let line = util::one_error_line(&out)?;
    ensure!(line.contains("executor"), "{line}");
    ensure!(
        started.elapsed() < Duration::from_secs(60),
        "the query took {:?} to fail",
        started.elapsed()
    );

    // No scheduler at all.
    let url = format!("df://127.0.0.1:{}", free_port()?);
    let out = query(
        &vars,
        &[
            args[..1].to_vec(),
            strings(&["--cluster", &url]),
            inputs(&hosts),
        ]
        .concat(),
    )?;
    let line = util::one_error_line(&out)?;
    ensure!(
        line.contains(&url) && line.contains("no scheduler"),
        "{line}"
    );
    // An executor whose scheduler never comes: one line once it has
    // waited, not a retry loop for ever.
    let port = free_port()?;
    let started = Instant::now();
    let out = run_within(util::sockrec().args([
        "cluster",
        "executor",
        "--scheduler",
        &format!("127.0.0.1:{port}"),
        "--bind-host",
        "127.0.0.1",
        "--bind-port",
        &free_port()?.to_string(),
        "--bind-grpc-port",
        &free_port()?.to_string(),
        "--scheduler-connect-timeout-seconds",
        "1",
    ]))?;
    let line = util::one_error_line(&out)?;
    ensure!(
        line.contains(&format!("no scheduler answers at 127.0.0.1:{port}")),
        "{line}"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(30),
        "the executor took {:?} to give up",
        started.elapsed()
    );
    Ok(())
}

/// Runs `cmd` to its end, within 120 s.
fn run_within(cmd: &mut std::process::Command) -> Result<std::process::Output, String> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let started = Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            return Err(format!("{cmd:?} still running after 120 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().map_err(|e| e.to_string())
}

/// Captures uploaded to a real S3 server, queried by `s3://` on a
/// cluster whose every process has the AWS settings: what the local
/// files print.
fn s3_captures_on_a_cluster() -> TestResult {
    let s3 = S3Server::start(false)?;
    s3.put("/caps", b"")?;
    let (a, b, c) = (fixture("host-a"), fixture("host-b"), fixture("connections"));
    let hosts: [&Path; 2] = [&a, &b];
    upload(&s3, &hosts, "s3://caps/fleet/")?;
    upload(&s3, &[&c], "s3://caps/conn/")?;
    let cluster = Cluster::start(&s3.vars())?;
    // Locally (the expected output) from the files; on the cluster from
    // the store.
    let want_hosts: Vec<String> = hosts.iter().map(|p| p.display().to_string()).collect();
    for (report, v1) in ALL_REPORTS
        .iter()
        .filter(|r| ["sockstat", "soconnect", "tcplife"].contains(&r.0))
    {
        let (local, remote) = if *v1 {
            (want_hosts.clone(), "s3://caps/fleet/")
        } else {
            (vec![c.display().to_string()], "s3://caps/conn/")
        };
        let want = query_ok(&s3.vars(), &[strings(&[report]), inputs(&local)].concat())?;
        let got = query_ok(
            &s3.vars(),
            &strings(&[report, "-i", remote, "--cluster", &cluster.url]),
        )?;
        ensure!(
            got == want,
            "{report} over s3 on the cluster\n{got}\nlocally\n{want}"
        );
    }
    Ok(())
}
