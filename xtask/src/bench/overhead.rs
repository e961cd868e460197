//! Part 1, overhead: how much slower the loopback workloads run while
//! traced.
//!
//! Each round starts every tracer in turn (alone, `sockrec record`, the
//! same with `--report sockstat` and with `--report soconnect` live,
//! bpftrace sockstat, bpftrace soconnect), fresh, and runs both workloads
//! under it for a fixed time. Rounds alternate the tracers and the order
//! turns by one each round, so slow drifts of the machine (other jobs, TIME_WAIT
//! sockets piling up from the TCP loop, caches) spread over all tracers
//! instead of landing on one. The figure is the median of the rounds'
//! rates; the slowdown is alone's median over the tracer's (a live
//! report's also plain recording's over its own).
//!
//! `kernel.bpf_stats_enabled` is off meanwhile: counting adds two clock
//! reads to every program run, which is not what users pay.

use anyhow::Result;

use super::bpf_stats::BpfStats;
use super::report::{Report, Status, median, si};
use super::tracer::Tracer;
use super::workload::run_workload;
use super::{Options, env::Env};

pub const WORKLOADS: [&str; 2] = ["udp", "tcp"];

pub fn run(env: &Env, opts: &Options, report: &mut Report) -> Result<()> {
    let rounds = opts.rounds.unwrap_or(if opts.quick { 3 } else { 5 });
    let dur = opts.secs(3.0, 1.0);
    let _stats = BpfStats::set(false)?;
    let tracers = Tracer::ALL;
    // rates[tracer][workload]: operations/s, one per round.
    let mut rates = vec![vec![Vec::new(); WORKLOADS.len()]; tracers.len()];
    let mut lost = 0;
    for round in 0..rounds {
        for i in 0..tracers.len() {
            let t = (i + round) % tracers.len();
            eprintln!(
                "bench: overhead round {}/{rounds}: {}",
                round + 1,
                tracers[t].label()
            );
            let running = tracers[t].start(env)?;
            for (w, kind) in WORKLOADS.iter().enumerate() {
                rates[t][w].push(run_workload(env, kind, dur)?.ops_per_s());
            }
            if let Some(rec) = running.stop()? {
                lost += rec.lost;
            }
        }
    }
    report.say(format!(
        "{rounds} alternating rounds of {:.1} s per workload and tracer; \
         operations/s (udp: one send + one recv; tcp: connect/accept/1-byte exchange/close).",
        dur.as_secs_f64()
    ));
    report.say(String::new());
    let mut rows = Vec::new();
    for (w, kind) in WORKLOADS.iter().enumerate() {
        let alone = median(&rates[0][w]);
        let plain = median(&rates[1][w]);
        for (t, tracer) in tracers.iter().enumerate() {
            let m = median(&rates[t][w]);
            let slowdown = alone / m;
            rows.push(vec![
                kind.to_string(),
                tracer.label(),
                si(m),
                format!("{slowdown:.2}x"),
                rates[t][w]
                    .iter()
                    .map(|r| si(*r))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
            let (target, status) = match (tracer, *kind) {
                (Tracer::Alone, _) => continue,
                (Tracer::Sockrec, "udp") => {
                    ("≤ 1.10x".to_string(), Status::at_most(slowdown, 1.10))
                }
                (Tracer::Sockrec, _) => ("≤ 1.05x".to_string(), Status::at_most(slowdown, 1.05)),
                (Tracer::SockrecLive(_), _) => {
                    // Issue 14: a live report within 5 % of plain recording.
                    let vs_plain = plain / m;
                    report.figure(
                        format!("{kind} loop under {}, vs plain recording", tracer.label()),
                        format!("{vs_plain:.3}x slower"),
                        "≤ 1.05x".to_string(),
                        Status::at_most(vs_plain, 1.05),
                    );
                    (String::new(), Status::Info)
                }
                (Tracer::Bpftrace(s), "udp") if s.name == "sockstat" => {
                    ("(1.34x measured before)".into(), Status::Info)
                }
                (Tracer::Bpftrace(s), "tcp") if s.name == "soconnect" => {
                    ("(1.79x measured before)".into(), Status::Info)
                }
                _ => (String::new(), Status::Info),
            };
            report.figure(
                format!("{kind} loop under {}", tracer.label()),
                format!("{slowdown:.2}x slower"),
                target,
                status,
            );
        }
    }
    report.table(
        &[
            "workload",
            "tracer",
            "median ops/s",
            "slowdown vs alone",
            "each round",
        ],
        &rows,
    );
    if lost > 0 {
        report.say(format!(
            "note: sockrec lost {lost} events over these rounds (see the throughput part)."
        ));
    }
    Ok(())
}
