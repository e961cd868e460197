//! `cargo xtask test-kernel 6.1|6.12|5.10`: the integration tests on another
//! kernel, booted under QEMU.
//!
//! Debian's cloud kernel of that series (from Debian's archive, unpacked
//! with `dpkg-deb -x`) boots with an initramfs that holds busybox, the
//! `sockrec` and the integration test binary (with the shared
//! libraries they link), each at the path it has here, since the test binary
//! names `sockrec` by its absolute build path. The guest's /init mounts what
//! the recorder needs (proc, sys, tracefs, cgroup2), prints `sockrec probes`
//! and runs every integration test, exactly as on the host; the exit code
//! comes back on the serial console.
//!
//! TCG, not KVM: `-enable-kvm` hangs at boot on these machines. And TCG
//! with one host thread for both vCPUs (`thread=single`): with a thread per
//! vCPU (QEMU's default), a vCPU running `inet_sendmsg` while the other
//! patched its first instruction (attaching or detaching an fexit
//! trampoline, `text_poke_bp`) could loop on a stale translation of that
//! instruction for good: `soft lockup - CPU#1 stuck for 205s!
//! [sockrec-wl]`, RIP `inet_sendmsg+0x0`, and RCU tasks grace periods
//! stalled behind it, about one 6.1 run in six. An emulator artefact
//! (self-modifying code across vCPUs), not a kernel or sockrec bug: with one
//! thread, the writing vCPU invalidates the code before the other runs again.

use anyhow::{Context as _, Result, bail};
use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{output, root, run};

/// Debian packages the test needs on the host.
const HOST_PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("busybox", "busybox-static"),
    ("cpio", "cpio"),
];

/// The guest has this long to boot and run the tests (they took 730-880 s
/// under TCG in December 2026).
const GUEST_TIMEOUT: Duration = Duration::from_secs(1200);

pub fn run_kernel_test(series: &str) -> Result<()> {
    // The Debian release whose archive has the kernel: 6.1 and 6.12 are
    // bookworm's (the machine's own sources), 5.10 is bullseye's (Debian
    // 11). 5.10 predates `bpf_get_current_task_btf` (5.11) and BPF_CMPXCHG
    // (5.12): the recorder's older code paths run there on a real old
    // verifier (docs/design.md, "The current task").
    let (pattern, suite) = match series {
        "5.10" => (
            r"^linux-image-5\.10\.0-[0-9]+-cloud-amd64-unsigned$",
            Some("bullseye"),
        ),
        "6.1" => (r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$", None),
        "6.12" => (
            r"^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$",
            None,
        ),
        other => bail!("unknown kernel series {other:?} (5.10, 6.1 or 6.12)"),
    };
    install_host_packages()?;
    let apt = match suite {
        Some(suite) => apt_for_suite(suite)?,
        None => Vec::new(),
    };
    let kernel = fetch_kernel(pattern, &apt)?;
    let (sockrec, tests) = build_binaries()?;
    let initramfs = make_initramfs(&sockrec, &tests)?;
    boot(&kernel, &initramfs)
}

fn install_host_packages() -> Result<()> {
    let missing: Vec<&str> = HOST_PACKAGES
        .iter()
        .filter(|(bin, _)| output(Command::new("which").arg(bin)).is_none())
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing))
}

/// apt options that read the package lists of Debian's `suite` instead of
/// the machine's (which stay as they are): a sources list of the same
/// archive as the machine's own `debian` source, with its own lists
/// directory under target/kernels, updated once.
fn apt_for_suite(suite: &str) -> Result<Vec<String>> {
    let dir = root().join("target/kernels").join(format!("apt-{suite}"));
    let sources = dir.join("sources.list");
    let lists = dir.join("lists");
    let opts = vec![
        format!("-oDir::Etc::sourcelist={}", sources.display()),
        "-oDir::Etc::sourceparts=-".to_string(),
        format!("-oDir::State::Lists={}", lists.display()),
    ];
    if lists.join("partial").exists() {
        return Ok(opts);
    }
    // The machine's archive (deb822 `URIs:` of its `debian` source, or a
    // one-line `deb URI suite` entry).
    let mut text = String::new();
    for f in [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ] {
        text.push_str(&std::fs::read_to_string(f).unwrap_or_default());
    }
    let uri = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("URIs:").map(str::trim).or_else(|| {
                l.strip_prefix("deb ")
                    .and_then(|r| r.split_whitespace().next())
            })
        })
        .find(|u| u.trim_end_matches('/').ends_with("/debian"))
        .context("no Debian archive in the machine's apt sources")?;
    std::fs::create_dir_all(lists.join("partial"))?;
    std::fs::write(
        &sources,
        format!(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {uri} {suite} main\n"
        ),
    )?;
    run(Command::new("apt-get").args(&opts).args(["update", "-q"]))?;
    Ok(opts)
}

/// Downloads and unpacks the newest kernel package matching `pattern`
/// (from the lists `apt` options name, else the machine's); returns its
/// vmlinuz. Cached under target/kernels.
fn fetch_kernel(pattern: &str, apt: &[String]) -> Result<PathBuf> {
    let list =
        output(
            Command::new("apt-cache")
                .args(apt)
                .args(["search", "--names-only", pattern]),
        )
        .unwrap_or_default();
    let mut names: Vec<&str> = list.lines().filter_map(|l| l.split(' ').next()).collect();
    names.sort_by_key(|n| version_key(n));
    let Some(pkg) = names.last() else {
        bail!("no Debian package matches {pattern} (run apt-get update?)");
    };
    let dir = root().join("target/kernels").join(pkg);
    let boot = dir.join("boot");
    if !boot.exists() {
        std::fs::create_dir_all(&dir)?;
        run(Command::new("apt-get")
            .current_dir(&dir)
            .args(apt)
            .args(["download", pkg]))?;
        let deb = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .context("apt-get download left no .deb")?;
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir))?;
        std::fs::remove_file(deb)?;
    }
    let vmlinuz = std::fs::read_dir(&boot)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .context("kernel package has no boot/vmlinuz-*")?;
    eprintln!("kernel: {}", vmlinuz.display());
    Ok(vmlinuz)
}

/// Orders `linux-image-6.1.0-57-...` after `-9-`: numbers compare as numbers.
fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Builds `sockrec` and the integration test binary; returns both paths.
///
/// The dev profile, as `cargo xtask test` builds them: CI then compiles the
/// workspace once, not twice (a release build of DataFusion alone would cost
/// a large part of CI's time), and what runs in the guest is what passed on
/// the host.
fn build_binaries() -> Result<(PathBuf, PathBuf)> {
    let root = root();
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["build", "--bin", "sockrec"]))?;
    let out = Command::new("cargo")
        .current_dir(&root)
        .args([
            "test",
            "--test",
            "integration",
            "--no-run",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("building the integration tests failed");
    }
    // The test binary is the artifact with an executable whose target is `integration`.
    let tests = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"name\":\"integration\"") && l.contains("\"executable\":\""))
        .filter_map(|l| {
            let start = l.find("\"executable\":\"")? + "\"executable\":\"".len();
            let end = l[start..].find('"')? + start;
            Some(PathBuf::from(&l[start..end]))
        })
        .next_back()
        .context("cargo did not name the integration test binary")?;
    Ok((crate::target_dir(&root).join("debug/sockrec"), tests))
}

/// Shared libraries `bin` loads, from `ldd` (absolute paths).
fn shared_libs(bin: &Path) -> Result<Vec<PathBuf>> {
    let text = output(Command::new("ldd").arg(bin)).unwrap_or_default();
    Ok(text
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect())
}

/// Copies `src` to the same absolute path under `dir`, without debug info.
fn place(dir: &Path, src: &Path, strip: bool) -> Result<()> {
    let dst = dir.join(src.strip_prefix("/").unwrap_or(src));
    std::fs::create_dir_all(dst.parent().unwrap())?;
    if strip {
        run(Command::new("objcopy")
            .arg("--strip-debug")
            .arg(src)
            .arg(&dst))?;
    } else {
        std::fs::copy(src, &dst).with_context(|| format!("copying {}", src.display()))?;
    }
    Ok(())
}

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tracefs tracefs /sys/kernel/tracing
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
mkdir -p @TMPDIR@
echo "sockrec-guest: kernel $(uname -r)"
@SOCKREC@ probes
@RUN@
echo "sockrec-guest: exit $?"
poweroff -f
"#;

/// What the guest runs: every integration test but [`HOST_ONLY`]; while
/// debugging a kernel, `SOCKREC_GUEST_TEST_ARGS` narrows them (e.g.
/// `record::known`) and `SOCKREC_GUEST_SCRIPT` replaces them with a shell
/// script (`@TESTS@` and `@SOCKREC@` stand for the binaries).
fn guest_command() -> String {
    if let Ok(script) = std::env::var("SOCKREC_GUEST_SCRIPT") {
        return script;
    }
    let args = std::env::var("SOCKREC_GUEST_TEST_ARGS").unwrap_or_default();
    let skip: String = HOST_ONLY.iter().map(|t| format!(" --skip {t}")).collect();
    // No cargo in the guest: insta takes the workspace from here, not from
    // `cargo metadata` (insta's env.rs, get_cargo_workspace).
    let root = root();
    format!(
        "CI=true INSTA_WORKSPACE_ROOT={} @TESTS@ --test-threads 1 --color never{skip} {args}",
        root.display()
    )
}

/// Tests of user space alone, the same on every kernel, that cost the
/// guests minutes under TCG: the host runs them. The damaged-file tests
/// run over a hundred `sockrec` processes (with them the 6.1 guest's tests
/// took 731 s, was ~200 s); the live reports (`live::`, ~150 s in a guest)
/// are the recorder's rows through the analyzer, whichever probes made
/// them (they passed in each guest alone: 6.1 147 s, 6.12 161 s, 5.10
/// 124 s).
const HOST_ONLY: &[&str] = &[
    "query::bad_cuts_and_flips",
    "query::bad_fuzz_corpus",
    "live::",
    // Slicing, redacting and drawing captures: files in, files out.
    "share::",
    "plot::",
    // Captures in object storage: an S3 server (moto, Python) and curl,
    // which the guests lack; the client is user space alone.
    "store::",
    // A Ballista cluster of three sockrec processes: user space alone,
    // and one of its tests needs the S3 server too.
    "cluster::",
    // Completions checked with bash, which the guests' busybox lacks.
    "cli::completions_and_man_pages",
];

fn make_initramfs(sockrec: &Path, tests: &Path) -> Result<PathBuf> {
    let root = root();
    let dir = root.join("target/kernel-test/initramfs");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin"))?;
    let busybox = output(Command::new("which").arg("busybox")).context("busybox missing")?;
    std::fs::copy(busybox.trim(), dir.join("bin/busybox"))?;
    for bin in [sockrec, tests] {
        place(&dir, bin, true)?;
        for lib in shared_libs(bin)? {
            place(&dir, &lib, false)?;
        }
    }
    // The query tests read these by their absolute paths on the host.
    for data in [
        "fixtures",
        "tests/integration/snapshots",
        "capture/fuzz/corpus/capture_reader",
    ] {
        for entry in std::fs::read_dir(root.join(data))? {
            let path = entry?.path();
            if path.is_file() {
                place(&dir, &path, false)?;
            }
        }
    }
    let tmpdir = root.join("target/tmp");
    let init = INIT
        .replace("@RUN@", &guest_command())
        .replace("@TMPDIR@", &tmpdir.display().to_string())
        .replace("@SOCKREC@", &sockrec.display().to_string())
        .replace("@TESTS@", &tests.display().to_string());
    let init_path = dir.join("init");
    std::fs::write(&init_path, init)?;
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&init_path)?.permissions(),
        0o755,
    );
    run(Command::new("chmod").arg("755").arg(&init_path))?;
    let cpio = root.join("target/kernel-test/initramfs.cpio");
    // An uncompressed newc archive: the kernel unpacks it fastest.
    let status = Command::new("sh")
        .current_dir(&dir)
        .arg("-c")
        .arg(format!(
            "find . | cpio -o -H newc --quiet > {}",
            cpio.display()
        ))
        .status()?;
    if !status.success() {
        bail!("cpio failed");
    }
    Ok(cpio)
}

fn boot(kernel: &Path, initramfs: &Path) -> Result<()> {
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-accel", "tcg,thread=single", "-cpu", "max", "-m", "2G"])
        .args(["-smp", "2"])
        .args([
            "-nographic",
            "-no-reboot",
            "-serial",
            "stdio",
            "-monitor",
            "none",
        ])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    eprintln!("+ {qemu:?}");
    let started = Instant::now();
    let mut child = qemu.spawn().context("starting qemu-system-x86_64")?;
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut exit = None;
    loop {
        let left = GUEST_TIMEOUT.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                println!("{line}");
                if let Some(code) = line.trim().strip_prefix("sockrec-guest: exit ") {
                    exit = code.trim().parse::<i32>().ok();
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                bail!("the guest did not finish within {GUEST_TIMEOUT:?}");
            }
        }
    }
    let _ = child.wait();
    eprintln!("guest ran {:.0} s", started.elapsed().as_secs_f64());
    match exit {
        Some(0) => Ok(()),
        Some(code) => bail!("the integration tests failed in the guest (exit {code})"),
        None => bail!("the guest stopped without reporting the tests' exit code"),
    }
}
