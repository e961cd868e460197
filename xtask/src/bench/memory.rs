//! Part 6, memory: the recorder's peak RSS over a busy recording (60 s;
//! 15 s with `--quick`; `--secs` does not apply).
//!
//! Busy: the UDP and TCP loops at once for the whole recording, with
//! default settings. The peak is the kernel's (`ru_maxrss` from `wait4`),
//! which catches short spikes a sampler would miss; `VmRSS` is also
//! sampled every second to show whether it grows with the recording's
//! length (it should not: row groups are flushed, not kept).

use anyhow::Result;
use std::time::{Duration, Instant};

use super::bpf_stats::BpfStats;
use super::recorder::Recorder;
use super::report::{Report, Status, si};
use super::workload::Workload;
use super::{Options, env::Env};
use sockrec_devkit::proc::rss_kib;

pub fn run(env: &Env, opts: &Options, report: &mut Report) -> Result<()> {
    let secs = if opts.quick { 15 } else { 60 };
    let _stats = BpfStats::set(false)?;
    eprintln!("bench: memory: {secs} s busy recording");
    let path = env.scratch("memory.parquet");
    let d = format!("{secs}s");
    let rec = Recorder::start(env, &path, &["-d", &d])?;
    let pid = rec.pid();
    let started = Instant::now();
    let dur = Duration::from_secs(secs);
    let loops = [
        Workload::spawn(env, "udp", dur)?,
        Workload::spawn(env, "tcp", dur)?,
    ];
    // (seconds since start, VmRSS KiB), until the recorder exits.
    let mut samples = Vec::new();
    while let Some(kib) = rss_kib(pid) {
        samples.push((started.elapsed().as_secs_f64(), kib));
        std::thread::sleep(Duration::from_secs(1));
    }
    for w in loops {
        w.wait()?;
    }
    let r = rec.wait()?;
    let peak_mib = r.usage.max_rss_kib as f64 / 1024.0;
    report.say(format!(
        "{secs} s of `sockrec record -d {secs}s` with the UDP and TCP loops running: \
         {} events, {} lost, {} bytes; peak RSS (ru_maxrss) **{peak_mib:.1} MiB**.",
        si(r.events as f64),
        r.lost,
        si(r.file_bytes as f64)
    ));
    report.say(String::new());
    // A handful of samples through the run: enough to see a trend.
    let step = (samples.len() / 6).max(1);
    let rows: Vec<Vec<String>> = samples
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i + 1 == samples.len())
        .map(|(_, (t, kib))| vec![format!("{t:.0}"), format!("{:.1}", *kib as f64 / 1024.0)])
        .collect();
    report.table(&["s", "VmRSS MiB"], &rows);
    report.figure(
        format!("recorder peak RSS, {secs} s busy recording"),
        format!("{peak_mib:.1} MiB"),
        "≤ 100 MiB",
        Status::at_most(peak_mib, 100.0),
    );
    Ok(())
}
