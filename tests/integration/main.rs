//! sockrec's integration tests: one test binary, as ripgrep has.
//!
//! It runs the real `sockrec` binary. The privileged tests load the real
//! eBPF programs and record a known workload; the workload runs in a child
//! process that is this same binary started with `SOCKREC_TEST_WORKLOAD` set
//! (so the recorder can follow exactly that pid), inside its own network
//! namespace. That is why this binary has its own `main` (libtest-mimic).
//!
//! Privileged tests need root (or CAP_BPF + CAP_PERFMON). Without it they
//! are reported as ignored, except under CI (`CI` set), where they fail:
//! CI must prove the programs load.

mod capture;
mod cli;
mod cluster;
mod live;
mod plot;
mod query;
mod record;
mod share;
mod store;
mod terminal;
mod util;
mod workload;

use libtest_mimic::{Arguments, Trial};

fn main() {
    if let Ok(scenario) = std::env::var(workload::ENV) {
        workload::child_main(&scenario);
    }
    let args = Arguments::from_args();
    let privileged = util::can_load_bpf();
    let mut trials: Vec<Trial> = Vec::new();
    let trial = |&(path, f): &util::Test| {
        Trial::test(util::test_name(path), move || f().map_err(Into::into))
    };
    for t in cli::TESTS
        .iter()
        .chain(query::TESTS)
        .chain(share::TESTS)
        .chain(plot::TESTS)
        .chain(terminal::TESTS)
    {
        trials.push(trial(t));
    }
    // The object storage and cluster tests' TCP connections on loopback
    // (moto, curl, Ballista, sockrec's clients) never overlap a recording.
    // Until session 15 a recording under a filter kept a foreign
    // connection's state change that softirq raised while a traced task
    // was current; the filter decides at a connection's beginning now
    // (ebpf/sockrec-ebpf/src/filter.rs), and known_workload_exactly makes
    // foreign connections of its own to show it. Keeping these apart as
    // well leaves the exact counts nothing else to meet.
    for &(path, f) in store::TESTS.iter().chain(cluster::TESTS) {
        trials.push(Trial::test(util::test_name(path), move || {
            let _alone = util::LOOPBACK.write().unwrap_or_else(|e| e.into_inner());
            f().map_err(Into::into)
        }));
    }
    for &(path, f) in record::TESTS.iter().chain(live::TESTS) {
        let t = Trial::test(util::test_name(path), move || {
            let _shared = util::LOOPBACK.read().unwrap_or_else(|e| e.into_inner());
            f().map_err(Into::into)
        });
        trials.push(t.with_ignored_flag(!privileged));
    }
    if !privileged {
        if std::env::var_os("CI").is_some() {
            eprintln!(
                "CI is set but this process cannot load eBPF programs: run the tests as root"
            );
            std::process::exit(1);
        }
        eprintln!("note: not root: the privileged tests (recording) are ignored");
    }
    libtest_mimic::run(&args, trials).exit();
}
