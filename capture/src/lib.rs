//! sockrec's capture file format.
//!
//! A capture is a single Parquet file, one row per socket event, with the
//! recording's context (host, kernel, boot time, probes, lost events...) in
//! the file's key-value metadata. Parquet makes captures directly queryable
//! by DuckDB, pandas, Polars or Spark; the layout is documented for them in
//! `docs/capture-format.md`.
//!
//! - [`schema`]: the columns and metadata keys, and [`FORMAT_VERSION`].
//! - [`NewCapture`]: the file a capture goes to, made before recording
//!   starts; never written through a symlink, never over a device.
//! - [`CaptureMeta`]: the recording's facts in the footer's `sockrec.*`
//!   metadata, written and read by inverse functions.
//! - [`CaptureWriter`]: the recorder's side; the file is a complete Parquet
//!   file after every flush, so a killed recorder loses at most the events
//!   since its last flush.
//! - [`CaptureInfo`]: the footer of an existing capture (`sockrec info`),
//!   read from a file or from the tail of an object in a store
//!   ([`Location`]).
//! - [`DerivedCapture`]: a capture made from others' rows (`sockrec slice`,
//!   `sockrec redact`).
//! - [`expand_inputs`]: the capture files that files, directories and
//!   glob patterns on the command line name (`sockrec info`, `query -i`).
//! - [`SockAddr`]: how raw `sockaddr` bytes become the `addr`/`port` columns.
//! - [`terminal`]: how a capture's text is shown to a person: names, paths
//!   and metadata are what traced processes (or a crafted file) chose, so
//!   every human-facing output escapes them with [`terminal::escape`].
//!
//! The crate builds on stable Rust and needs no privileges: it never touches
//! the kernel, only [`sockrec_common::SocketEvent`] values.

pub mod addr;
mod batch;
mod derived;
mod footer;
mod inputs;
mod location;
mod meta;
mod new_file;
pub mod panic;
mod reader;
mod row_group;
pub mod schema;
pub mod terminal;
mod writer;

pub use addr::SockAddr;
pub use batch::EventBatch;
pub use derived::DerivedCapture;
pub use inputs::expand_inputs;
pub use location::{Location, OBJECT_SCHEME, is_object_url};
pub use meta::CaptureMeta;
pub use new_file::NewCapture;
pub use reader::CaptureInfo;
pub use schema::{FORMAT_VERSION, capture_schema};
pub use writer::{CaptureSummary, CaptureWriter, writer_properties};
