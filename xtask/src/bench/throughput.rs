//! Part 3, throughput: how many events/s `sockrec record` keeps without
//! loss, what it spends on each in CPU, and where loss starts.
//!
//! The first step is the target: one UDP loop at its top rate,
//! default settings. Then two ladders look for the edge:
//! - more UDP loops at once (default buffer): on this 2-core machine the
//!   loops and the recorder fight for the same CPUs, which is how a busy
//!   server starves a tracer;
//! - one loop with smaller ring buffers (`--buffer-mib`): how much slack
//!   the default 8 MiB leaves;
//! - a starved recorder: the smallest buffer, many loops, and the recorder
//!   at nice 19, the worst this machine can do to it short of stopping it.
//!
//! The recorder's CPU time is counted from when the workload starts (its
//! start-up, loading and verifying the programs, is left out) to when it
//! has finished the file after SIGTERM, so writing the capture is in.

use anyhow::Result;
use std::time::Duration;

use super::bpf_stats::BpfStats;
use super::recorder::Recorder;
use super::report::{Report, Status, si};
use super::workload::run_workloads;
use super::{Options, env::Env};

/// The recorder's capture writer thread (recorder/src/writer.rs).
const WRITER: &str = "sockrec-writer";

struct Step {
    /// Which ladder: a loss is reported as the first of its ladder.
    ladder: &'static str,
    loops: usize,
    buffer_mib: Option<u32>,
    nice: i32,
}

pub fn run(env: &Env, opts: &Options, report: &mut Report) -> Result<()> {
    let dur = opts.secs(10.0, 3.0);
    let _stats = BpfStats::set(false)?;
    let mut steps = vec![Step {
        ladder: "top rate",
        loops: 1,
        buffer_mib: None,
        nice: 0,
    }];
    let (more_loops, buffers): (&[usize], &[u32]) = if opts.quick {
        (&[2], &[1])
    } else {
        (&[2, 4, 8], &[2, 1])
    };
    steps.extend(more_loops.iter().map(|&loops| Step {
        ladder: "more loops",
        loops,
        buffer_mib: None,
        nice: 0,
    }));
    steps.extend(buffers.iter().map(|&b| Step {
        ladder: "smaller buffer",
        loops: 1,
        buffer_mib: Some(b),
        nice: 0,
    }));
    steps.push(Step {
        ladder: "starved recorder",
        loops: if opts.quick { 4 } else { 8 },
        buffer_mib: Some(1),
        nice: 19,
    });

    let mut rows = Vec::new();
    // The first lossy step of each ladder.
    let mut loss_starts: Vec<(&str, String)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let buffer = step
            .buffer_mib
            .map_or("8 MiB (default)".to_string(), |b| format!("{b} MiB"));
        eprintln!(
            "bench: throughput: {} UDP loop(s), buffer {buffer}, recorder nice {}",
            step.loops, step.nice
        );
        let extra: Vec<String> = step
            .buffer_mib
            .map(|b| vec!["--buffer-mib".into(), b.to_string()])
            .unwrap_or_default();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let rec =
            Recorder::start_niced(env, &env.scratch("throughput.parquet"), &extra, step.nice)?;
        let cpu_before = rec.cpu_time().unwrap_or_default();
        let writer_before = rec.thread_cpu(WRITER);
        let kinds = vec!["udp"; step.loops];
        let runs = run_workloads(env, &kinds, dur)?;
        // The writer thread's share, up to SIGTERM (the last row group's
        // encoding and the footer come after: a little more).
        let writer = rec.thread_cpu(WRITER).saturating_sub(writer_before);
        let r = rec.stop()?;
        let cpu = r.usage.cpu.saturating_sub(cpu_before);
        let wall = runs
            .iter()
            .map(|w| w.elapsed)
            .max()
            .unwrap_or(Duration::ZERO)
            .as_secs_f64();
        let made_per_s: f64 = runs.iter().map(|w| w.events_per_s()).sum();
        let made: u64 = runs.iter().map(|w| w.events()).sum();
        let recorded_per_s = r.events as f64 / wall.max(1e-9);
        let cpu_ns_per_event = cpu.as_nanos() as f64 / r.events.max(1) as f64;
        let loss_pct = 100.0 * r.lost as f64 / (r.events + r.lost).max(1) as f64;
        rows.push(vec![
            step.loops.to_string(),
            buffer.clone(),
            step.nice.to_string(),
            si(made_per_s),
            si(made as f64),
            si(r.events as f64),
            format!("{} ({loss_pct:.2} %)", r.lost),
            format!("{cpu_ns_per_event:.0}"),
            format!("{:.0} %", 100.0 * cpu.as_secs_f64() / wall.max(1e-9)),
        ]);
        if r.lost > 0 && loss_starts.iter().all(|(l, _)| *l != step.ladder) {
            loss_starts.push((
                step.ladder,
                format!(
                    "{}: {} loop(s), {buffer}, nice {}: {} events/s made, {loss_pct:.2} % lost",
                    step.ladder,
                    step.loops,
                    step.nice,
                    si(made_per_s)
                ),
            ));
        }
        if i == 0 {
            report.figure(
                "UDP loop at top rate, default settings: events/s recorded",
                format!("{}/s, {} lost", si(recorded_per_s), r.lost),
                "0 lost",
                if r.lost == 0 {
                    Status::Ok
                } else {
                    Status::Missed
                },
            );
            let writer_ns = writer.as_nanos() as f64 / r.events.max(1) as f64;
            report.say(format!(
                "Recorder CPU per event at the top rate: {cpu_ns_per_event:.0} ns, of which \
                 {writer_ns:.0} ns in the capture writer thread (Arrow columns, Parquet \
                 encoding, zstd) and the rest in the ring-buffer drain and the kernel's \
                 work for it."
            ));
            report.say(String::new());
            report.figure(
                "recorder CPU per event (UDP loop)",
                format!("{cpu_ns_per_event:.0} ns (writer thread {writer_ns:.0})"),
                "",
                Status::Info,
            );
        }
    }
    report.say(format!(
        "Each step: {:.1} s of UDP send/recv loops under `sockrec record` (no filter). \
         \"events made\" is what the loops did (2 per operation); \"recorded\" is \
         every event in the capture (the machine's other sockets too); recorder \
         CPU counts from the workload's start to the file's end.",
        dur.as_secs_f64()
    ));
    report.say(String::new());
    report.table(
        &[
            "UDP loops",
            "ring buffer",
            "recorder nice",
            "events/s made",
            "events made",
            "recorded",
            "lost",
            "recorder CPU ns/event",
            "recorder CPU",
        ],
        &rows,
    );
    let starts = if loss_starts.is_empty() {
        "no loss in any step".to_string()
    } else {
        loss_starts
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join("; ")
    };
    report.say(format!("Loss starts at: {starts}."));
    report.figure("where loss starts", starts, "", Status::Info);
    Ok(())
}
