//! sockrec on Apache DataFusion Ballista: `sockrec cluster scheduler`,
//! `sockrec cluster executor` and the client side of `sockrec query
//! --cluster df://HOST:PORT`.
//!
//! Stock Ballista binaries cannot run sockrec's reports: the reports call
//! sockrec's functions (`af_name`, `errno_name`...), which a plan names
//! and which every process that plans or runs it must know by name
//! (Ballista's codecs send a function's name, not its code), and captures
//! in object storage are read through sockrec's S3 clients (the AWS
//! environment and profile, as `query -i s3://` reads them here). So the
//! scheduler's per-query session ([`functions::session_state`]) and the
//! executors' function registry and runtime ([`executor`]) are built here
//! with both; everything else is Ballista's own.
//!
//! What each process must see of the captures: the client reads their
//! footers (checks and schema), the scheduler lists their files or
//! objects, the executors read them. Local paths must therefore be the same
//! on every process (one machine, or a shared file system); `s3://` inputs
//! are read by each process with its own credentials.

pub mod client;
pub mod executor;
mod functions;
mod registry;
pub mod scheduler;

pub use client::engine;
