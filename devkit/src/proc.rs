//! What `/proc` tells about a running process (proc(5)): its resident set
//! size, its threads by name, and their CPU time. A few fields read by
//! hand: the `procfs` crate would do it too, but costs a rebuild of rustix
//! and two crates of its own for these three readers.

use std::time::Duration;

/// Current resident set size of `pid`, KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: i32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time (user + system) `pid` has used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The comm is in parentheses and may hold spaces.
    stat_cpu(&stat[stat.rfind(')')?..])
}

/// One thread of a process (`/proc/PID/task/TID/stat`).
#[derive(Clone, Debug)]
pub struct Thread {
    pub tid: i32,
    /// Its comm: the name it set itself (`std::thread::Builder::name`).
    pub name: String,
    /// User + system CPU time so far.
    pub cpu: Duration,
}

/// Every thread of process `pid` (none if it has gone).
pub fn threads(pid: i32) -> Vec<Thread> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let Ok(tid) = task.file_name().to_string_lossy().parse() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let Some(cpu) = stat_cpu(&stat[close..]) else {
            continue;
        };
        out.push(Thread {
            tid,
            name: stat[open + 1..close].to_string(),
            cpu,
        });
    }
    out
}

/// CPU time (user + system) of each thread of process `pid`, by thread
/// name; threads of the same name are summed.
pub fn thread_cpu_times(pid: i32) -> Vec<(String, Duration)> {
    let mut out: Vec<(String, Duration)> = Vec::new();
    for t in threads(pid) {
        match out.iter_mut().find(|(n, _)| *n == t.name) {
            Some((_, total)) => *total += t.cpu,
            None => out.push((t.name, t.cpu)),
        }
    }
    out
}

/// utime + stime from the part of a `stat` line from the `)` that ends
/// the comm on.
fn stat_cpu(rest: &str) -> Option<Duration> {
    // Fields after the comm: state is field 3, utime 14 and stime 15.
    let f: Vec<&str> = rest.get(2..)?.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's CPU time (clock_gettime(2), CLOCK_THREAD_CPUTIME_ID).
    fn thread_cpu_now() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: an out-pointer to a local.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// A named thread's CPU shows under its name, apart from the others.
    #[test]
    fn thread_cpu_by_name() {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (busy_tx, busy_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name("cpu-by-name".into())
            .spawn(move || {
                // 100 ms of this thread's own CPU time, however busy the
                // machine is (wall time would be less CPU under load).
                while thread_cpu_now() < Duration::from_millis(100) {
                    std::hint::black_box(0u64);
                }
                busy_tx.send(()).unwrap();
                done_rx.recv().unwrap();
            })
            .unwrap();
        busy_rx.recv().unwrap();
        let me = std::process::id() as i32;
        let by_name = thread_cpu_times(me);
        let named: Vec<Thread> = threads(me)
            .into_iter()
            .filter(|t| t.name == "cpu-by-name")
            .collect();
        done_tx.send(()).unwrap();
        t.join().unwrap();
        let cpu = by_name.iter().find(|(n, _)| n == "cpu-by-name");
        // 100 ms of CPU; clock ticks are 10 ms.
        assert!(
            cpu.is_some_and(|(_, c)| *c >= Duration::from_millis(50)),
            "{by_name:?}"
        );
        assert!(
            named.len() == 1 && named[0].tid != me,
            "one thread of its own: {named:?}"
        );
    }

    #[test]
    fn our_own_cpu_time_and_rss_are_readable() {
        let me = std::process::id() as i32;
        assert!(cpu_time(me).is_some());
        assert!(rss_kib(me).is_some_and(|k| k > 0));
    }
}
