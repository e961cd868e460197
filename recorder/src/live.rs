//! The live path (`sockrec record --report`): the recording's events, as
//! rows of the capture, handed to a [`LiveSink`] on a thread of its own
//! while the writer goes on writing the capture.
//!
//! The writer thread builds the rows it writes a second time, as Arrow
//! batches of the capture schema, at least every [`LIVE_EVERY`], and
//! queues them here without ever waiting: a sink slower than the events
//! (a heavy report, a busy host) falls behind, the batches it could not
//! take are counted and it is told how many, and neither the capture nor
//! the kernel's ring buffer loses anything for it. The queue is bounded
//! ([`LIVE_QUEUE`] batches), so neither does the recorder's memory grow.

use anyhow::{Context as _, Result, anyhow};
use arrow_array::RecordBatch;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

/// The longest an event waits in the writer before the live sink gets it
/// (the sink may add its own delay, e.g. to the end of an interval).
pub const LIVE_EVERY: Duration = Duration::from_millis(250);
/// How often the sink is ticked (the live reports' clock).
const TICK: Duration = Duration::from_secs(1);
/// Batches waiting for the sink; past this they are dropped and counted.
/// A batch holds at most the writer's sort window (16 Ki events) or
/// [`LIVE_EVERY`] of them.
const LIVE_QUEUE: usize = 64;

/// What consumes the recording's events live: `sockrec record --report`'s
/// reports. Called on the live thread only, never on the writer's.
pub trait LiveSink: Send {
    /// Rows of the capture schema, in time order within the batch.
    fn events(&mut self, batch: RecordBatch) -> Result<()>;
    /// About once a second; `behind` is how many events the sink has not
    /// been given so far because it was too slow (0 when it keeps up).
    fn tick(&mut self, behind: u64) -> Result<()>;
    /// The recording has ended: every event has been given (or counted in
    /// `behind`).
    fn finish(&mut self, behind: u64) -> Result<()>;
}

/// The writer's end of the live thread.
pub(crate) struct LiveFeed {
    queue: mpsc::SyncSender<RecordBatch>,
    /// Events dropped because the queue was full.
    behind: Arc<AtomicU64>,
    thread: thread::JoinHandle<Result<()>>,
}

impl LiveFeed {
    /// Starts the live thread over `sink`.
    pub(crate) fn start(mut sink: Box<dyn LiveSink>) -> Result<LiveFeed> {
        let (queue, rx) = mpsc::sync_channel::<RecordBatch>(LIVE_QUEUE);
        let behind = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&behind);
        let thread = thread::Builder::new()
            .name("sockrec-live".into())
            .spawn(move || {
                let mut next_tick = Instant::now() + TICK;
                loop {
                    match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                        Ok(batch) => sink.events(batch)?,
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                    if Instant::now() >= next_tick {
                        sink.tick(seen.load(Ordering::Relaxed))?;
                        next_tick += TICK;
                    }
                }
                sink.finish(seen.load(Ordering::Relaxed))
            })
            .context("starting the live report thread")?;
        Ok(LiveFeed {
            queue,
            behind,
            thread,
        })
    }

    /// Queues `batch` for the sink, or counts its rows as not shown when
    /// the sink is behind; never waits. A sink that failed (its thread
    /// ended) takes nothing more: its error comes out of [`LiveFeed::finish`].
    pub(crate) fn send(&self, batch: RecordBatch) {
        let rows = batch.num_rows() as u64;
        if let Err(mpsc::TrySendError::Full(_)) = self.queue.try_send(batch) {
            self.behind.fetch_add(rows, Ordering::Relaxed);
        }
    }

    /// Closes the queue, lets the sink finish and returns its error, if any.
    pub(crate) fn finish(self) -> Result<()> {
        drop(self.queue);
        self.thread
            .join()
            .map_err(|_| anyhow!("the live report thread panicked"))?
    }
}
