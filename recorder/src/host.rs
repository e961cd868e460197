//! Facts about the machine being recorded: stored in the capture
//! (`sockrec.host`, `sockrec.kernel`) so a reader elsewhere knows where it
//! came from; the host name also names the default output file, the kernel
//! release heads `sockrec probes` and explains a refused `--cgroup`.

fn proc_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The host name, as uname(2)'s nodename (empty if unreadable).
pub fn host_name() -> String {
    proc_line("/proc/sys/kernel/hostname")
}

/// The kernel release, as `uname -r` prints it (empty if unreadable).
pub fn kernel_release() -> String {
    proc_line("/proc/sys/kernel/osrelease")
}
