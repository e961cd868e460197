//! One recording, from first event to finished file, in the steps BCC's
//! libbpf-tools give a tool: open the file, load and attach the programs
//! (`loader.rs`), start the writer thread (`writer.rs`), drain the ring
//! buffer (`ring.rs`) until the deadline or a signal, stop (detach, take
//! what is left) and finish the file.
//!
//! Two threads: the tokio task drains the ring buffer (woken by the kernel
//! once `wakeup_bytes` wait, and by a 100 ms tick otherwise) and never
//! blocks on disk; the writer thread turns chunks of events into Parquet
//! row groups and makes the file readable at least every `FLUSH_EVERY`
//! (writer.rs), so a killed recorder loses at most that much.

use anyhow::Result;
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, RingBuf},
};
use sockrec_capture::terminal::escape;
use sockrec_capture::{CaptureMeta, CaptureWriter, NewCapture};
use sockrec_common::{FLAG_IN_FLIGHT, MessageBatch, SocketEvent};
use std::{
    io::Write as _,
    time::{Duration, Instant},
};
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{Signal, SignalKind},
};

use crate::{
    clock, host,
    live::LiveSink,
    loader::{self, Loaded, PendingCalls},
    options::RecordOptions,
    ring::{self, DRAIN_CHUNK},
    writer::{RowsOf, Writer},
};

/// How often the drain wakes on its own when the kernel has not woken it.
const TICK: Duration = Duration::from_millis(100);

/// What a finished recording reports.
#[derive(Debug)]
pub struct RecordSummary {
    pub events: u64,
    pub in_flight: u64,
    pub lost_per_cpu: Vec<u64>,
    pub bytes: u64,
    pub elapsed: Duration,
    pub probes: Vec<String>,
}

impl RecordSummary {
    pub fn lost(&self) -> u64 {
        self.lost_per_cpu.iter().sum()
    }
}

/// Records until `opts.duration` passes or SIGINT/SIGTERM arrives; with a
/// `live` sink, hands it the events as they are written (live.rs).
pub fn record(opts: &RecordOptions, live: Option<Box<dyn LiveSink>>) -> Result<RecordSummary> {
    // glibc raises its mmap threshold each time a large block is freed; then
    // the writer's per-row-group buffers (MBs, made and freed every flush)
    // come from its heap and fragment it: RSS crept from 59 to 163 MiB over
    // a 60 s busy recording. A fixed threshold (glibc's initial 128 KiB)
    // keeps them in mmap, returned on free. The drain's chunks, which
    // would then cost page faults each, are recycled instead
    // (`Writer::empty_chunk`).
    // SAFETY: mallopt only tunes the allocator; called before our threads.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(record_async(opts, live))
}

/// The steps, in their order.
async fn record_async(
    opts: &RecordOptions,
    live: Option<Box<dyn LiveSink>>,
) -> Result<RecordSummary> {
    // The file first, before loading anything: a path that cannot be
    // written fails with nothing loaded, and an existing capture is
    // replaced (with --force) only once the recording has begun.
    let file = opts
        .output
        .as_deref()
        .map(|path| NewCapture::create(path, opts.force))
        .transpose()?;
    let loaded = load(opts)?;
    let probes = probe_lines(&loaded);
    let meta = capture_meta(opts, &loaded, &probes);
    let rows_of = RowsOf {
        host: meta.host.clone(),
        boot_time_ns: meta.boot_time_ns,
    };
    let capture = file.map(|f| CaptureWriter::new(f, meta)).transpose()?;
    // Take over SIGINT/SIGTERM before saying we record, so a signal sent as
    // soon as the line below appears finishes the file instead of killing us.
    let signals = StopSignals::take_over()?;
    announce(opts);
    let mut recording = Recording::start(opts, loaded, probes, capture, rows_of, live)?;
    recording.drain_until_stopped(signals).await?;
    recording.stop();
    recording.finish()
}

/// Loads and attaches the programs (loader.rs), warning of each kind that
/// no way in the probe plan could attach here.
fn load(opts: &RecordOptions) -> Result<Loaded> {
    let wakeup = u64::from(opts.buffer_bytes / 4);
    let loaded = loader::load(&opts.filters, opts.buffer_bytes, wakeup)?;
    for o in &loaded.outcomes {
        if o.attached.is_none() {
            eprintln!("sockrec: warning: not recording {}", o.describe());
        }
    }
    Ok(loaded)
}

/// The lines of `sockrec.probes`: each kind's probe, then the programs' code.
fn probe_lines(loaded: &Loaded) -> Vec<String> {
    let mut probes: Vec<String> = loaded.outcomes.iter().map(|o| o.describe()).collect();
    probes.push(loaded.code.describe());
    probes
}

/// The capture's metadata as the recording starts; the writer updates the
/// end time and the lost counts.
fn capture_meta(opts: &RecordOptions, loaded: &Loaded, probes: &[String]) -> CaptureMeta {
    let start = clock::now_wall_ns();
    CaptureMeta {
        host: host::host_name(),
        kernel: host::kernel_release(),
        boot_time_ns: clock::boot_time_ns(),
        start_ns: start,
        end_ns: start,
        probes: probes.join("\n"),
        lost: vec![0; loaded.lost.get(&0, 0).map(|v| v.len()).unwrap_or(0)],
        filters: opts.filters.describe(),
        sockrec_version: env!("CARGO_PKG_VERSION").to_string(),
        ..CaptureMeta::default()
    }
}

/// SIGINT and SIGTERM, taken from their default (ending the process) to
/// end the recording instead.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn take_over() -> Result<StopSignals> {
        Ok(StopSignals {
            interrupt: tokio::signal::unix::signal(SignalKind::interrupt())?,
            terminate: tokio::signal::unix::signal(SignalKind::terminate())?,
        })
    }
}

/// Says the recording has begun. Scripts (and the tests) wait for this
/// line: from here on, nothing is missed.
fn announce(opts: &RecordOptions) {
    let until = match opts.duration {
        Some(d) => format!("for {}", humantime::format_duration(d)),
        None => "Ctrl-C to stop".to_string(),
    };
    match &opts.output {
        Some(path) => eprintln!(
            "sockrec: recording to {} ({until})",
            escape(&path.display().to_string())
        ),
        None => eprintln!("sockrec: recording to no capture, for the live reports only ({until})"),
    }
}

/// A recording under way: programs attached, the writer thread started.
struct Recording<'a> {
    opts: &'a RecordOptions,
    /// The programs, detached by [`Recording::stop`].
    ebpf: Ebpf,
    /// The ring buffer the programs write events to.
    ring: AsyncFd<RingBuf<MapData>>,
    /// Per CPU, the events the kernel dropped (the ring buffer was full).
    lost: PerCpuArray<MapData, u64>,
    /// Each CPU's messages not yet in the ring buffer, read at the end.
    batches: Vec<PerCpuArray<MapData, MessageBatch>>,
    /// Calls entered and not yet returned, read at the end.
    pending: PendingCalls,
    probes: Vec<String>,
    writer: Writer,
    /// The chunk being drained into, handed whole to the writer.
    chunk: Vec<SocketEvent>,
    /// Events drained so far, in-flight calls apart.
    events: u64,
    in_flight: u64,
    started: Instant,
    /// When the last status line (and lost counts) went out, and the
    /// events by then.
    last_status: Instant,
    status_events: u64,
}

impl<'a> Recording<'a> {
    /// Starts the writer thread and watches the ring buffer.
    fn start(
        opts: &'a RecordOptions,
        loaded: Loaded,
        probes: Vec<String>,
        capture: Option<CaptureWriter>,
        rows_of: RowsOf,
        live: Option<Box<dyn LiveSink>>,
    ) -> Result<Recording<'a>> {
        let Loaded {
            ebpf,
            events,
            pending,
            lost,
            batches,
            probe_of_kind,
            ..
        } = loaded;
        let writer = Writer::start(capture, rows_of, probe_of_kind, live)?;
        let started = Instant::now();
        // SAFETY: the ring buffer owns its map fd for as long as the AsyncFd
        // owns the ring buffer, and as_raw_fd always returns that fd.
        let ring = unsafe { AsyncFd::register_with_interest(events, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        let chunk = writer.empty_chunk();
        Ok(Recording {
            opts,
            ebpf,
            ring,
            lost,
            batches,
            pending,
            probes,
            writer,
            chunk,
            events: 0,
            in_flight: 0,
            started,
            last_status: Instant::now(),
            status_events: 0,
        })
    }

    /// Drains the ring buffer until the deadline or SIGINT/SIGTERM.
    async fn drain_until_stopped(&mut self, mut signals: StopSignals) -> Result<()> {
        let deadline = self.opts.duration.map(|d| self.started + d);
        let sleep_until = deadline.unwrap_or(self.started + Duration::from_secs(100 * 365 * 86400));
        let mut tick = tokio::time::interval(TICK);
        // The last drain stopped at DRAIN_CHUNK with more waiting: go on at once.
        let mut more = false;
        loop {
            // biased: a signal or the deadline wins over draining, so a producer
            // faster than us cannot keep the recorder from stopping.
            tokio::select! {
                biased;
                _ = signals.interrupt.recv() => break,
                _ = signals.terminate.recv() => break,
                _ = tokio::time::sleep_until(sleep_until.into()) => break,
                _ = std::future::ready(()), if more => {}
                guard = self.ring.readable_mut() => guard?.clear_ready(),
                _ = tick.tick() => {}
            }
            more = self.drain();
            self.hand_over();
            self.every_second();
        }
        if self.opts.status {
            eprintln!();
        }
        Ok(())
    }

    /// Drains up to DRAIN_CHUNK events into the chunk; returns whether it
    /// stopped there (more may wait).
    fn drain(&mut self) -> bool {
        let (n, full) = ring::drain(self.ring.get_mut(), &mut self.chunk, DRAIN_CHUNK);
        self.events += n;
        full
    }

    /// Hands the drained chunk, if any, to the writer and takes an empty
    /// one: the one place events leave the drain. Waits while the writer's
    /// queue is full.
    fn hand_over(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.chunk, self.writer.empty_chunk());
        self.writer.send_events(chunk);
    }

    /// Once a second: the lost counts to the writer (the footer must say
    /// them even if no event comes) and, with `--status`, the status line.
    fn every_second(&mut self) {
        if self.last_status.elapsed() < Duration::from_secs(1) {
            return;
        }
        let lost = read_lost(&self.lost);
        if self.opts.status {
            let secs = self.last_status.elapsed().as_secs_f64();
            let rate = (self.events - self.status_events) as f64 / secs;
            status_line(
                self.started.elapsed(),
                rate,
                self.writer.bytes_on_disk(),
                lost.iter().sum(),
            );
        }
        self.writer.send_lost(lost);
        self.status_events = self.events;
        self.last_status = Instant::now();
    }

    /// Stops producing, then takes what is still in the ring, in the CPUs'
    /// message batches and in flight.
    fn stop(&mut self) {
        loader::detach_all(&mut self.ebpf);
        // In chunks, as while recording: a full ring is 8 MiB of records.
        while self.drain() {
            self.hand_over();
        }
        self.take_held_messages();
        self.take_in_flight();
        self.hand_over();
    }

    /// Messages the CPUs still held in their batches (MessageBatch).
    fn take_held_messages(&mut self) {
        for map in &self.batches {
            let Ok(per_cpu) = map.get(&0, 0) else {
                continue;
            };
            for held in per_cpu.iter() {
                self.events += ring::decode_held(held, &mut self.chunk);
            }
        }
    }

    /// Calls entered and not yet returned, flagged FLAG_IN_FLIGHT.
    fn take_in_flight(&mut self) {
        for mut ev in self.pending.in_flight() {
            ev.flags |= FLAG_IN_FLIGHT;
            self.chunk.push(ev);
            self.in_flight += 1;
        }
    }

    /// Gives the writer the final lost counts and waits for it to finish
    /// the file.
    fn finish(self) -> Result<RecordSummary> {
        let lost = read_lost(&self.lost);
        self.writer.send_lost(lost.clone());
        let bytes = self.writer.finish()?;
        Ok(RecordSummary {
            events: self.events + self.in_flight,
            in_flight: self.in_flight,
            lost_per_cpu: lost,
            bytes,
            elapsed: self.started.elapsed(),
            probes: self.probes,
        })
    }
}

fn read_lost(lost: &PerCpuArray<MapData, u64>) -> Vec<u64> {
    lost.get(&0, 0).map(|v| v.to_vec()).unwrap_or_default()
}

fn status_line(elapsed: Duration, rate: f64, bytes: u64, lost: u64) {
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r\x1b[Krecording {:>6.1}s  {:>9.0} events/s  {:>8.2} MB written  {} lost",
        elapsed.as_secs_f64(),
        rate,
        bytes as f64 / 1e6,
        lost
    );
    let _ = err.flush();
}
