//! Part 2, in-kernel cost: ns per run of each BPF program, from the kernel's
//! own counters (`kernel.bpf_stats_enabled`: `run_time_ns / run_cnt`),
//! sockrec's programs next to bpftrace's on the same workload.
//!
//! Each (workload, tracer) pair gets a fresh tracer, so its programs'
//! counters start at 0 and hold that workload only (plus whatever else the
//! machine did meanwhile, which on an idle machine is little).
//!
//! "Per event" adds up every program's time and divides by the events:
//! for sockrec a call is one event made of two runs (`sys_enter_X` stores
//! the arguments, `sys_exit_X` emits), a message one run; bpftrace's
//! sockstat counts each entry as an event, soconnect each connect exit.

use anyhow::{Result, bail};

use super::bpf_stats::{BpfStats, Prog, progs_of};
use super::bpftrace::{SOCKSTAT, SOCONNECT};
use super::overhead::WORKLOADS;
use super::report::{Report, Status, si};
use super::tracer::Tracer;
use super::workload::run_workload;
use super::{Options, env::Env};

/// Whether a program's runs are events: not bpftrace's BEGIN/END or its
/// `interval:s:1` (a program named `1`), and not the entry half of a call.
fn is_event_prog(tracer: &Tracer, p: &Prog) -> bool {
    let counts_entries = match tracer {
        Tracer::Bpftrace(s) => s.counts_entries,
        _ => false,
    };
    let special =
        ["BEGIN", "END"].contains(&p.name.as_str()) || p.name.bytes().all(|b| b.is_ascii_digit());
    !special && (counts_entries || !p.name.starts_with("sys_enter"))
}

/// Below this many events a per-event figure says nothing (soconnect on
/// the UDP loop sees the one connect that sets it up).
const MIN_EVENTS: u64 = 1000;

pub fn run(env: &Env, opts: &Options, report: &mut Report) -> Result<()> {
    let dur = opts.secs(3.0, 1.0);
    let _stats = BpfStats::set(true)?;
    let tracers = [
        Tracer::Sockrec,
        Tracer::Bpftrace(&SOCKSTAT),
        Tracer::Bpftrace(&SOCONNECT),
    ];
    let mut rows = Vec::new();
    for kind in WORKLOADS {
        for tracer in &tracers {
            eprintln!("bench: kernel: {kind} under {}", tracer.label());
            let running = tracer.start(env)?;
            let wl = run_workload(env, kind, dur)?;
            let pid = running.pid().expect("a tracer has a process");
            let progs = progs_of(pid)?;
            running.stop()?;
            if wl.ops == 0 {
                bail!("the {kind} workload made no operations");
            }
            let mut events = 0;
            let mut ns = 0;
            for p in progs.iter().filter(|p| p.run_cnt > 0) {
                rows.push(vec![
                    kind.to_string(),
                    tracer.label(),
                    format!("`{}`", p.name),
                    si(p.run_cnt as f64),
                    format!("{:.0}", p.ns_per_run()),
                ]);
                ns += p.run_time_ns;
                if is_event_prog(tracer, p) {
                    events += p.run_cnt;
                }
            }
            let per_event = ns as f64 / events.max(1) as f64;
            rows.push(vec![
                kind.to_string(),
                tracer.label(),
                "**all, per event**".into(),
                format!("{} events", si(events as f64)),
                format!("**{per_event:.0}**"),
            ]);
            if events < MIN_EVENTS {
                continue;
            }
            let (target, status) = match (tracer, kind) {
                (Tracer::Sockrec, _) => ("≤ 150 ns".to_string(), Status::at_most(per_event, 150.0)),
                (Tracer::Bpftrace(s), "udp") if s.name == "sockstat" => {
                    ("(220–250 ns measured before)".into(), Status::Info)
                }
                _ => (String::new(), Status::Info),
            };
            report.figure(
                format!("{kind}: kernel time per event, {}", tracer.label()),
                format!("{per_event:.0} ns"),
                target,
                status,
            );
        }
    }
    report.say(format!(
        "Programs with runs, {:.1} s of each workload under a fresh tracer, \
         `kernel.bpf_stats_enabled=1`.",
        dur.as_secs_f64()
    ));
    report.say(String::new());
    report.table(&["workload", "tracer", "program", "runs", "ns/run"], &rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(name: &str) -> Prog {
        Prog {
            id: 1,
            name: name.into(),
            run_cnt: 1,
            run_time_ns: 1,
        }
    }

    #[test]
    fn which_programs_are_events() {
        let sockrec = Tracer::Sockrec;
        assert!(is_event_prog(&sockrec, &prog("raw_sock_send_length")));
        assert!(is_event_prog(&sockrec, &prog("sys_exit_connect")));
        assert!(!is_event_prog(&sockrec, &prog("sys_enter_connect")));
        let sockstat = Tracer::Bpftrace(&SOCKSTAT);
        assert!(is_event_prog(&sockstat, &prog("sys_enter_conne")));
        assert!(!is_event_prog(&sockstat, &prog("1")));
        assert!(!is_event_prog(&sockstat, &prog("BEGIN")));
        let soconnect = Tracer::Bpftrace(&SOCONNECT);
        assert!(!is_event_prog(&soconnect, &prog("sys_enter_conne")));
        assert!(is_event_prog(&soconnect, &prog("sys_exit_connec")));
    }
}
