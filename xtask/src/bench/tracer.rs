//! What a workload runs under: nothing, `sockrec record`, or one of the
//! seed's bpftrace tools. One type so the overhead and kernel parts treat
//! them alike.

use anyhow::Result;

use super::bpftrace::{Bpftrace, SOCKSTAT, SOCONNECT, Script};
use super::env::Env;
use super::recorder::{Recorder, Recording};

#[derive(Clone, Copy)]
pub enum Tracer {
    Alone,
    Sockrec,
    /// `sockrec record --report NAME`: recording with a live report.
    SockrecLive(&'static str),
    Bpftrace(&'static Script),
}

impl Tracer {
    /// Every tracer, `Alone` first (the others are compared with it).
    pub const ALL: [Tracer; 6] = [
        Tracer::Alone,
        Tracer::Sockrec,
        Tracer::SockrecLive("sockstat"),
        Tracer::SockrecLive("soconnect"),
        Tracer::Bpftrace(&SOCKSTAT),
        Tracer::Bpftrace(&SOCONNECT),
    ];

    pub fn label(&self) -> String {
        match self {
            Tracer::Alone => "alone".into(),
            Tracer::Sockrec => "sockrec record".into(),
            Tracer::SockrecLive(r) => format!("sockrec record --report {r}"),
            Tracer::Bpftrace(s) => format!("bpftrace {}", s.name),
        }
    }

    /// Starts it and waits until its programs are attached.
    pub fn start(&self, env: &Env) -> Result<Running> {
        Ok(match self {
            Tracer::Alone => Running::Nothing,
            // Default settings, every event kind, no filter: what a user
            // gets from plain `sockrec record`.
            Tracer::Sockrec => {
                Running::Recorder(Recorder::start(env, &env.scratch("tracer.parquet"), &[])?)
            }
            // Its output goes to /dev/null: the report's cost, not a
            // terminal's.
            Tracer::SockrecLive(r) => Running::Recorder(Recorder::start(
                env,
                &env.scratch("tracer.parquet"),
                &["--report", r],
            )?),
            Tracer::Bpftrace(s) => Running::Bpftrace(Bpftrace::start(env, s)?),
        })
    }
}

pub enum Running {
    Nothing,
    Recorder(Recorder),
    Bpftrace(Bpftrace),
}

impl Running {
    /// The process holding the programs.
    pub fn pid(&self) -> Option<i32> {
        match self {
            Running::Nothing => None,
            Running::Recorder(r) => Some(r.pid()),
            Running::Bpftrace(b) => Some(b.pid()),
        }
    }

    /// Stops it; for sockrec, what it recorded.
    pub fn stop(self) -> Result<Option<Recording>> {
        match self {
            Running::Nothing => Ok(None),
            Running::Recorder(r) => r.stop().map(Some),
            Running::Bpftrace(b) => b.stop().map(|()| None),
        }
    }
}
