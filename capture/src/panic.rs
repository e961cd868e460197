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
};

/// What a panic said: its payload as text (`panic!` makes a `&str` or a
/// `String`); `None` for any other payload, which has no words to show:
/// each caller says that in its own terms.
pub fn message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

/// Runs `f`; a panic in it comes back as `Err(message)`, without the
/// process's panic hook (sockrec's "internal error" line, a fuzzer's
/// abort) seeing it. The hook is swapped for the duration, so keep `f`
/// short and call this where no other thread may be panicking at the
/// same time (captures are opened before a query's tasks start).
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(hook);
    // Under `quietly` a panic is the input's fault: a reader choked on it.
    result.map_err(|payload| {
        message(payload.as_ref()).unwrap_or_else(|| "a malformed value".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_an_error() {
        assert_eq!(quietly(|| 7), Ok(7));
        let r: Result<(), String> = quietly(|| panic!("bad width {}", 24608));
        assert_eq!(r, Err("bad width 24608".to_string()));
        // A payload that is not text (`panic_any`) still becomes an error.
        let r: Result<(), String> = quietly(|| std::panic::panic_any(24608u32));
        assert_eq!(r, Err("a malformed value".to_string()));
        assert_eq!(message(&24608u32), None);
    }
}
