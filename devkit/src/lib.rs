//! Dev-only helpers shared by the integration tests (tests/integration),
//! `cargo xtask fixtures` and `cargo xtask bench`: one place that drives a
//! `sockrec record` process and the workload children around it.
//!
//! - [`recorder`]: start `sockrec record`, wait for its "recording to"
//!   line, stop it by a chosen signal, collect its exit and stderr;
//! - [`workload`]: the workload protocol (`ready`, `go`, lines until a
//!   marker), both sides;
//! - [`child`]: reaping a child with its resource usage, signals, and a
//!   parent-death signal;
//! - [`lines`]: a child's output read on a thread, waited on line by line;
//! - [`proc`]: what `/proc` tells about a process (RSS, threads, CPU time).

pub mod child;
pub mod lines;
pub mod proc;
pub mod recorder;
pub mod workload;

pub use recorder::{Recorder, Stopped};
pub use workload::Workload;
