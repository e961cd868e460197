//! Captures in object storage: `sockrec upload` and `query -i s3://...`
//! against a real S3-compatible server, moto's (`moto_server`, a separate
//! process on a loopback port this test chose; `cargo xtask test` installs
//! it). Checked as a user would: reports over the uploaded captures print
//! exactly what they print over the local files, by prefix and by object;
//! an AWS profile alone (no `AWS_*` keys) reaches the store; and the
//! store's refusals are one line each.
//!
//! Nothing here needs root.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::query::{ALL_REPORTS, fixture, write_parquet};
use crate::{
    ensure,
    util::{self, TempDir, TestResult, Tests},
};

pub const TESTS: Tests = crate::tests![
    reports_over_s3_print_what_local_files_print,
    a_profile_reaches_the_store,
    upload_keeps_what_is_there,
    store_errors_are_one_line,
];

/// A `moto_server` on a free loopback port, killed on drop.
pub struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    /// Starts the server; `auth`: check requests' signatures against
    /// moto's IAM (no key is known, so every request is refused).
    pub fn start(auth: bool) -> Result<S3Server, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if auth {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let child = cmd.spawn().map_err(|e| {
            format!("moto_server: {e} (cargo xtask test installs it: pip install 'moto[server]')")
        })?;
        let server = S3Server { child, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            ensure!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not listen on {addr} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The AWS environment that reaches this server.
    pub fn vars(&self) -> Vars {
        vec![
            ("AWS_ACCESS_KEY_ID", "sockrec-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "sockrec-test-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
    }

    /// `cmd` with [`S3Server::vars`].
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        with_env(cmd, &self.vars())
    }

    /// PUT of `body` at `/PATH` (a bucket: `/caps`; an object:
    /// `/caps/key`), by curl, unsigned (moto without auth takes it).
    pub fn put(&self, path: &str, body: &[u8]) -> TestResult {
        let mut child = Command::new("curl")
            // Not curl's default form type, which moto parses as a form
            // (a binary body never ends).
            .args([
                "-sS",
                "-f",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/octet-stream",
            ])
            .args(["--max-time", "30", "--data-binary", "@-"])
            .arg(format!("{}{path}", self.endpoint()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("curl: {e}"))?;
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(body)
            .map_err(|e| format!("curl: {e}"))?;
        let status = child.wait().map_err(|e| format!("curl: {e}"))?;
        ensure!(status.success(), "PUT {path}: curl {status}");
        Ok(())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Environment variables for a sockrec process.
pub(crate) type Vars = Vec<(&'static str, String)>;

/// `cmd` with `vars`, and without any other AWS setting of the
/// environment the tests run in (no profile, no `~/.aws`: the home is the
/// target's scratch directory).
pub(crate) fn with_env<'a>(cmd: &'a mut Command, vars: &Vars) -> &'a mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", env!("CARGO_TARGET_TMPDIR"));
    for (key, value) in vars {
        cmd.env(key, value);
    }
    cmd
}

/// `sockrec upload CAPTURES --to TO` against `s3`; its stdout lines
/// (`FILE -> URL`) as the URLs.
pub(crate) fn upload(s3: &S3Server, captures: &[&Path], to: &str) -> Result<Vec<String>, String> {
    let mut cmd = util::sockrec();
    s3.env(cmd.arg("upload").args(captures).args(["--to", to]));
    let out = util::run(&mut cmd);
    ensure!(out.status.success(), "upload: {}", util::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .map(|l| {
            l.split_once(" -> ")
                .map(|(_, url)| url.to_string())
                .ok_or_else(|| format!("upload printed {l:?}"))
        })
        .collect()
}

/// `sockrec query ARGS` with `vars`; its stdout, or why not.
fn query_with(vars: &Vars, args: &[&str]) -> Result<String, String> {
    let mut cmd = util::sockrec();
    with_env(cmd.arg("query").args(args), vars);
    let out = util::run(&mut cmd);
    ensure!(
        out.status.success(),
        "query {args:?}: {}",
        util::stderr(&out)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `-i` before each input.
fn inputs(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|i| ["-i".to_string(), i.clone()])
        .collect()
}

/// The two hosts' fixtures and the connections fixture, uploaded; every
/// report in every format over the prefix (and over each object's URL)
/// prints byte for byte what it prints over the local files.
fn reports_over_s3_print_what_local_files_print() -> TestResult {
    let s3 = S3Server::start(false)?;
    s3.put("/caps", b"")?;
    let hosts = [fixture("host-a"), fixture("host-b")];
    let hosts: Vec<&Path> = hosts.iter().map(|p| p.as_path()).collect();
    let urls = upload(&s3, &hosts, "s3://caps/fleet/")?;
    // HOST/START.parquet under the prefix, one per capture.
    ensure!(urls.len() == 2, "{urls:?}");
    let mut hosts_seen = Vec::new();
    for url in &urls {
        let rest = url.strip_prefix("s3://caps/fleet/").unwrap_or_default();
        let (host, name) = rest.split_once('/').unwrap_or_default();
        ensure!(!host.is_empty() && name.ends_with("Z.parquet"), "{url}");
        hosts_seen.push(host.to_string());
    }
    // The recorders' host names (the captures' `host`), one directory each.
    let sql = "SELECT DISTINCT host FROM events ORDER BY host";
    let local_args: Vec<String> = hosts.iter().map(|p| p.display().to_string()).collect();
    let mut args = vec![
        "-e".to_string(),
        sql.into(),
        "--format".into(),
        "csv".into(),
    ];
    args.extend(inputs(&local_args));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let names = crate::query::query_ok(&args)?;
    hosts_seen.sort();
    ensure!(
        names
            .lines()
            .skip(1)
            .eq(hosts_seen.iter().map(String::as_str)),
        "hosts {names:?}, directories {hosts_seen:?}"
    );
    let conn = fixture("connections");
    let conn_url = upload(&s3, &[&conn], "s3://caps/conn/")?;

    let local_hosts: Vec<String> = hosts.iter().map(|p| p.display().to_string()).collect();
    let local_conn = vec![conn.display().to_string()];
    for (report, v1) in ALL_REPORTS {
        let (local, remote) = if v1 {
            (&local_hosts, vec!["s3://caps/fleet/".to_string()])
        } else {
            (&local_conn, vec!["s3://caps/conn/".to_string()])
        };
        for format in ["tool", "csv"] {
            let mut args = vec![report.to_string(), "--format".into(), format.into()];
            let here = [args.clone(), inputs(local)].concat();
            args.extend(inputs(&remote));
            let here: Vec<&str> = here.iter().map(String::as_str).collect();
            let there: Vec<&str> = args.iter().map(String::as_str).collect();
            let want = query_with(&s3.vars(), &here)?;
            let got = query_with(&s3.vars(), &there)?;
            ensure!(
                got == want,
                "{report} --format {format}: over s3\n{got}\nlocally\n{want}"
            );
        }
    }
    // Objects by URL, and the `capture` column holds the URL.
    let sql = "SELECT DISTINCT capture, host FROM events ORDER BY 1";
    let out = query_with(
        &s3.vars(),
        &[
            "-e",
            sql,
            "--format",
            "csv",
            "-i",
            &urls[0],
            "-i",
            &conn_url[0],
        ],
    )?;
    for url in [&urls[0], &conn_url[0]] {
        ensure!(out.contains(url.as_str()), "{url} not in\n{out}");
    }
    Ok(())
}

/// `AWS_PROFILE`'s keys, region and endpoint from the AWS files, with no
/// `AWS_*` key or endpoint in the environment, as `aws configure` leaves
/// them.
fn a_profile_reaches_the_store() -> TestResult {
    let s3 = S3Server::start(false)?;
    s3.put("/caps", b"")?;
    let host_a = fixture("host-a");
    upload(&s3, &[&host_a], "s3://caps/")?;
    let dir = TempDir::new("aws-profile");
    let credentials = dir.path().join("credentials");
    let config = dir.path().join("config");
    let write = |path: &Path, text: String| std::fs::write(path, text).map_err(|e| e.to_string());
    write(
        &credentials,
        "[default]\naws_access_key_id = wrong\n\n[incident]\naws_access_key_id = sockrec-test\naws_secret_access_key = sockrec-test-secret\n".into(),
    )?;
    write(
        &config,
        format!(
            "[profile incident]\nregion = eu-west-1\nendpoint_url = {}\n",
            s3.endpoint()
        ),
    )?;
    let mut vars: Vars = vec![
        ("AWS_PROFILE", "incident".into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            credentials.display().to_string(),
        ),
        ("AWS_CONFIG_FILE", config.display().to_string()),
    ];
    let want = crate::query::query_ok(&["sockstat", "-i", &host_a.display().to_string()])?;
    let got = query_with(&vars, &["sockstat", "-i", "s3://caps/"])?;
    ensure!(got == want, "over s3\n{got}\nlocally\n{want}");
    // A profile that isn't there is an error, not a silent default.
    vars[0].1 = "nope".into();
    let mut cmd = util::sockrec();
    with_env(cmd.args(["query", "sockstat", "-i", "s3://caps/"]), &vars);
    let line = util::one_error_line(&util::run(&mut cmd))?;
    ensure!(line.contains("AWS_PROFILE=nope: no such profile"), "{line}");
    Ok(())
}

/// A second upload of the same capture leaves the object as it is;
/// `--force` replaces it.
fn upload_keeps_what_is_there() -> TestResult {
    let s3 = S3Server::start(false)?;
    s3.put("/caps", b"")?;
    let host_a = fixture("host-a");
    upload(&s3, &[&host_a], "s3://caps/x/")?;
    let mut cmd = util::sockrec();
    s3.env(
        cmd.arg("upload")
            .arg(&host_a)
            .args(["--to", "s3://caps/x/"]),
    );
    let out = util::run(&mut cmd);
    ensure!(!out.status.success(), "a second upload succeeded");
    let line = util::one_error_line(&out)?;
    ensure!(
        line.contains("already exists (--force replaces it)"),
        "{line}"
    );
    let mut cmd = util::sockrec();
    s3.env(
        cmd.arg("upload")
            .arg(&host_a)
            .args(["--to", "s3://caps/x/", "--force"]),
    );
    let out = util::run(&mut cmd);
    ensure!(out.status.success(), "--force: {}", util::stderr(&out));
    Ok(())
}

/// No such bucket, no such object, an empty prefix, an object that is not
/// Parquet, a Parquet file that is not a capture, access denied and an
/// unreachable store: one line each, naming what was asked for, exit 1.
fn store_errors_are_one_line() -> TestResult {
    let s3 = S3Server::start(false)?;
    s3.put("/caps", b"")?;
    s3.put("/caps/junk.parquet", b"hello, not parquet at all")?;
    let not_capture = std::fs::read(fixture("host-a")).map_err(|e| e.to_string())?;
    // The fixture's bytes without its last byte: Parquet's magic is gone.
    s3.put("/caps/cut.parquet", &not_capture[..not_capture.len() - 1])?;
    let dir = TempDir::new("store-other");
    let other = dir.path().join("other.parquet");
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "a",
        std::sync::Arc::new(arrow_array::Int32Array::from(vec![1, 2])) as arrow_array::ArrayRef,
    )])
    .map_err(|e| e.to_string())?;
    write_parquet(&other, &[batch], &[]);
    s3.put(
        "/caps/other.parquet",
        &std::fs::read(&other).map_err(|e| e.to_string())?,
    )?;
    let fails = |vars: &Vars, input: &str, wanted: &str| -> TestResult {
        let mut cmd = util::sockrec();
        with_env(cmd.args(["query", "sockstat", "-i", input]), vars);
        let started = Instant::now();
        let out = util::run(&mut cmd);
        ensure!(
            out.status.code() == Some(1),
            "{input}: exit {:?}",
            out.status.code()
        );
        let line = util::one_error_line(&out)?;
        ensure!(
            line.starts_with(&format!("sockrec: {input}")) && line.contains(wanted),
            "{input}: {line:?}, wanted {wanted:?}"
        );
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "{input}: {:?} to fail",
            started.elapsed()
        );
        Ok(())
    };
    let env = s3.vars();
    fails(&env, "s3://nope/", "no such bucket \"nope\"")?;
    fails(&env, "s3://caps/missing.parquet", "no such object")?;
    fails(
        &env,
        "s3://caps/empty/",
        "no *.parquet capture under this prefix",
    )?;
    fails(&env, "s3://caps/junk.parquet", "not a Parquet file")?;
    fails(&env, "s3://caps/cut.parquet", "damaged Parquet file")?;
    fails(&env, "s3://caps/other.parquet", "not a sockrec capture")?;

    let denied = S3Server::start(true)?;
    let env = denied.vars();
    fails(&env, "s3://caps/", "access denied")?;

    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = closed.local_addr().map_err(|e| e.to_string())?.port();
    drop(closed);
    let mut env = s3.vars();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")));
    fails(&env, "s3://caps/", "")?;
    Ok(())
}
