//! A child's output stream read line by line on a thread of its own (so
//! its pipe never fills and stalls it), every line kept, with a way to wait
//! for the line that says something happened.

use std::{
    io::{BufRead as _, BufReader, Read},
    sync::{Arc, Mutex, mpsc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

pub struct Lines {
    all: Arc<Mutex<Vec<String>>>,
    rx: mpsc::Receiver<String>,
    thread: Option<JoinHandle<()>>,
}

impl Lines {
    pub fn new(stream: impl Read + Send + 'static) -> Lines {
        let all = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let keep = all.clone();
        let thread = std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Lines {
            all,
            rx,
            thread: Some(thread),
        }
    }

    /// Waits for a line containing `needle`; None if the stream ended or
    /// `timeout` passed first.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Every line so far, one string.
    pub fn so_far(&self) -> String {
        self.all.lock().unwrap().join("\n")
    }

    /// Every line, once the stream has ended (the writer has exited).
    pub fn finish(mut self) -> Vec<String> {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.all.lock().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_line_and_keeps_them_all() {
        let lines = Lines::new(&b"one\ntwo: here\nthree\n"[..]);
        assert_eq!(
            lines.wait_for("here", Duration::from_secs(5)).as_deref(),
            Some("two: here")
        );
        assert_eq!(lines.wait_for("nowhere", Duration::from_secs(5)), None);
        assert_eq!(lines.finish(), ["one", "two: here", "three"]);
    }
}
