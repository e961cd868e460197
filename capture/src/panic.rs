//! [`quietly`]: a call into a dependency that may panic on hostile input,
//! turned into an error.
//!
//! Some readers of untrusted bytes in our dependencies panic where they
//! should return an error: parquet-rs 59 and arrow-ipc 59 on malformed
//! footers and pages (the fuzz target found three: see `reader.rs`, and
//! parquet's `column/reader/decoder.rs` "Decoder for dict should have been
//! set"). A capture is shared between machines, so such bytes are input
//! like any other: the file gets a one-line error, not an "internal
//! error". What a footer can show is checked when a capture is opened;
//! page decoding (the kind counts, `sockrec query`'s scans) runs inside
//! [`quietly`].

use std::{
    any::Any,
    panic::{self, AssertUnwindSafe},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

/// What a panic said: its payload as text (`panic!` makes a `&str` or a
/// `String`; anything else has no words to show).
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a malformed value".to_string())
}

type Hook = Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Runs `f`; a panic in a dependency under it (parquet-rs, arrow, std)
/// comes back as `Err(message)`, without the process's panic hook
/// (sockrec's "internal error" line, a fuzzer's abort) seeing it. A panic
/// in sockrec's own code is a bug, not bad input: the hook sees it and it
/// goes on unwinding, so a bug is never reported as a damaged capture.
/// The hook is swapped for the duration, so keep `f` short and call this
/// where no other thread may be panicking at the same time (captures are
/// opened before a query's tasks start).
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let original: Arc<Mutex<Option<Hook>>> = Arc::new(Mutex::new(Some(panic::take_hook())));
    let ours = Arc::new(AtomicBool::new(false));
    {
        let (original, ours) = (Arc::clone(&original), Arc::clone(&ours));
        panic::set_hook(Box::new(move |info| {
            if info.location().is_some_and(|l| in_sockrec(l.file())) {
                ours.store(true, Ordering::Relaxed);
                if let Some(hook) = original
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                {
                    hook(info);
                }
            }
        }));
    }
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    drop(panic::take_hook());
    if let Some(hook) = original
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        panic::set_hook(hook);
    }
    match result {
        Ok(v) => Ok(v),
        Err(payload) if ours.load(Ordering::Relaxed) => panic::resume_unwind(payload),
        Err(payload) => Err(message(payload.as_ref())),
    }
}

/// Whether a panic's source file is sockrec's: cargo names a workspace
/// member's files relative to the workspace (`capture/src/reader.rs`),
/// and everything else absolutely (a dependency's by where cargo keeps
/// it, std's as `/rustc/<commit>/library/...`).
fn in_sockrec(file: &str) -> bool {
    !file.starts_with('/') && !file.starts_with("library/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_dependency_is_an_error() {
        assert_eq!(quietly(|| 7), Ok(7));
        // Panics inside core (its file is /rustc/.../library/core/...).
        let radix = std::hint::black_box(99);
        let r = quietly(|| i32::from_str_radix("1", radix));
        let why = r.expect_err("from_str_radix with radix 99 panics");
        assert!(why.contains("radix"), "{why}");
    }

    #[test]
    fn a_panic_in_sockrec_is_a_bug_and_goes_on() {
        let r = panic::catch_unwind(|| quietly(|| panic!("bad width {}", 24608)));
        let payload = r.expect_err("our own panic must not become an error");
        assert_eq!(message(payload.as_ref()), "bad width 24608");
    }

    #[test]
    fn where_a_panic_comes_from() {
        assert!(in_sockrec("capture/src/reader.rs"));
        assert!(!in_sockrec("/rustc/0123abcd/library/core/src/num/mod.rs"));
        assert!(!in_sockrec(
            "/root/.cargo/registry/src/x/parquet-59.0.0/src/column/reader.rs"
        ));
    }
}
