//! The probe plan: for every event kind, the ways to catch it, best first.
//!
//! At start the recorder tries each way in order and keeps the first that
//! loads and attaches on the running kernel; what was tried and why it was
//! passed over goes into the capture's metadata (`sockrec.probes`).
//!
//! | kind | ways, in order | kernels |
//! |------|----------------|---------|
//! | socket…accept4 | `syscalls:sys_enter_X` + `syscalls:sys_exit_X` tracepoints | all with syscall tracepoints (CONFIG_FTRACE_SYSCALLS) |
//! | send | 1. `sock_send_length` BTF tracepoint (`tp_btf`): plain loads instead of helpers | 6.3+ |
//! |      | 2. `sock_send_length` raw tracepoint | 6.3+ |
//! |      | 3. `sock:sock_send_length` tracepoint | 6.3+ |
//! |      | 4. fexit on `inet_sendmsg`, `inet6_sendmsg`, `unix_stream_sendmsg`, `unix_dgram_sendmsg` (INET, INET6, UNIX only) | 5.5+ where trampolines are allowed |
//! |      | 5. fexit `sock_sendmsg` | the same, where it is not inlined |
//! |      | 6. kprobe + kretprobe `sock_sendmsg` (the seed's probe) | CONFIG_KPROBES |
//! |      | 7. `syscalls:sys_enter/exit_{sendto,sendmsg}` tracepoints: send(2), sendto(2), sendmsg(2) only, not write(2) on a socket (see ebpf/sockrec-ebpf/src/probes/sock_msg_syscalls.rs) | all with syscall tracepoints |
//! | recv | the same seven on `sock_recv_length` / `*_recvmsg` / `{recvfrom,recvmsg}` | |
//! | listen | `syscalls:sys_enter_listen` + `sys_exit_listen` | as socket…accept4 |
//! | tcp_state | 1. `inet_sock_set_state` BTF tracepoint (`tp_btf`) | 5.5+ with BTF |
//! |           | 2. `inet_sock_set_state` raw tracepoint | 4.16+ |
//! | tcp_retransmit | 1. `tcp_retransmit_skb` BTF tracepoint | 5.5+ with BTF |
//! |                | 2. `tcp_retransmit_skb` raw tracepoint | 4.15+ |
//! | close | 1. fentry `sock_close` (the release of a socket's file) | 5.5+ where trampolines are allowed |
//! |       | 2. kprobe `sock_close` | CONFIG_KPROBES; else not recorded (no tracepoint marks a socket's end) |
//!
//! Way 4 comes before 5 because Debian's 6.1 inlines `sock_sendmsg()` into
//! `__sys_sendto()`: a probe on it attaches fine and then misses every
//! send(2) (see ebpf/sockrec-ebpf/src/probes/proto_msg_fexit.rs).
//!
//! Probes whose names are listed in `SOCKREC_EXCLUDE_PROBES` (comma-separated,
//! e.g. `rawtracepoint:sock_send_length`; commas inside `{...}` belong to the
//! name) are passed over, so the later ways can be exercised on a kernel
//! that has the earlier ones.

use sockrec_common::EventKind;

/// The probe that caught each kind, indexed by the kind's number (index 0
/// unused): what the writer names in the `probe` column.
pub type ProbeOfKind = [&'static str; EventKind::ALL.len() + 1];

/// The width of the first column of `sockrec probes`: the longest kind's name.
pub const NAME_WIDTH: usize = "tcp_retransmit".len();

/// How a program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// A tracepoint (`category:name` under tracefs); the program reads the
    /// formatted trace record.
    Tracepoint { category: &'static str },
    /// A raw tracepoint: the program gets the `TP_PROTO` arguments directly,
    /// so the kernel formats no record (cheaper per event).
    RawTracepoint,
    /// A BTF-typed raw tracepoint (`tp_btf`): typed arguments, so the
    /// program reads kernel structs with plain loads (needs BTF; 5.5+).
    BtfTracepoint,
    /// fentry on a kernel function (BPF trampoline, needs BTF; 5.5+).
    FEntry,
    /// fexit on a kernel function (BPF trampoline, needs BTF; 5.5+).
    FExit,
    /// kprobe on a kernel function's entry.
    KProbe,
    /// kretprobe on a kernel function's return.
    KRetProbe,
}

/// One program and where it attaches.
#[derive(Clone, Copy, Debug)]
pub struct ProbeProgram {
    /// The program's name in the eBPF object (the Rust function name).
    pub program: &'static str,
    pub attach: Attach,
    /// The tracepoint's name.
    pub target: &'static str,
    /// A call program's twin for kernels before 5.12, which keeps calls in
    /// progress in a hash map: a program that holds `BPF_CMPXCHG` at all
    /// does not load there (ebpf/sockrec-ebpf/src/pending.rs).
    pub hash_twin: Option<&'static str>,
}

impl ProbeProgram {
    /// The program to load: the hash twin where calls cannot be kept in
    /// slots.
    pub fn program_for(&self, slots: bool) -> &'static str {
        match self.hash_twin {
            Some(twin) if !slots => twin,
            _ => self.program,
        }
    }
}

/// One way to catch an event kind: programs that are attached together.
#[derive(Clone, Copy, Debug)]
pub struct Way {
    /// The probe named in the capture's `probe` column for events caught
    /// this way, in bpftrace's spelling (`tracepoint:category:name`,
    /// `rawtracepoint:name`).
    pub probe: &'static str,
    pub programs: &'static [ProbeProgram],
}

const fn tp(program: &'static str, category: &'static str) -> ProbeProgram {
    ProbeProgram {
        program,
        attach: Attach::Tracepoint { category },
        target: program,
        hash_twin: None,
    }
}

/// A call's syscall tracepoint, `program` with its `_hash` twin.
const fn call_tp(program: &'static str, hash_twin: &'static str) -> ProbeProgram {
    ProbeProgram {
        hash_twin: Some(hash_twin),
        ..tp(program, "syscalls")
    }
}

const fn raw_tp(program: &'static str, target: &'static str) -> ProbeProgram {
    ProbeProgram {
        program,
        attach: Attach::RawTracepoint,
        target,
        hash_twin: None,
    }
}

const fn tp_btf(program: &'static str, target: &'static str) -> ProbeProgram {
    ProbeProgram {
        program,
        attach: Attach::BtfTracepoint,
        target,
        hash_twin: None,
    }
}

const fn fexit(program: &'static str, function: &'static str) -> ProbeProgram {
    ProbeProgram {
        program,
        attach: Attach::FExit,
        target: function,
        hash_twin: None,
    }
}

const fn fentry(program: &'static str, function: &'static str) -> ProbeProgram {
    ProbeProgram {
        program,
        attach: Attach::FEntry,
        target: function,
        hash_twin: None,
    }
}

const fn kprobe(program: &'static str, function: &'static str) -> ProbeProgram {
    ProbeProgram {
        program,
        attach: Attach::KProbe,
        target: function,
        hash_twin: None,
    }
}

const fn kretprobe(program: &'static str, function: &'static str) -> ProbeProgram {
    ProbeProgram {
        program,
        attach: Attach::KRetProbe,
        target: function,
        hash_twin: None,
    }
}

/// The ways to catch `kind`, best first (the table above).
pub fn ways(kind: EventKind) -> &'static [Way] {
    macro_rules! syscall {
        ($enter:literal, $exit:literal) => {
            const {
                &[Way {
                    probe: concat!("tracepoint:syscalls:", $enter),
                    programs: &[
                        call_tp($enter, concat!($enter, "_hash")),
                        call_tp($exit, concat!($exit, "_hash")),
                    ],
                }]
            }
        };
    }
    // The eBPF object names each program after its way and target:
    // btf_X, raw_X, X (tracepoint), fexit_F, kprobe_F, kretprobe_F.
    macro_rules! message {
        ($tp:literal, $func:literal, $op:literal, $call1:literal, $call2:literal) => {
            const {
                &[
                    Way {
                        probe: concat!("tp_btf:", $tp),
                        programs: &[tp_btf(concat!("btf_", $tp), $tp)],
                    },
                    Way {
                        probe: concat!("rawtracepoint:", $tp),
                        programs: &[raw_tp(concat!("raw_", $tp), $tp)],
                    },
                    Way {
                        probe: concat!("tracepoint:sock:", $tp),
                        programs: &[tp($tp, "sock")],
                    },
                    Way {
                        probe: concat!("fexit:{inet,inet6,unix_stream,unix_dgram}_", $op),
                        programs: &[
                            fexit(concat!("fexit_inet_", $op), concat!("inet_", $op)),
                            fexit(concat!("fexit_inet6_", $op), concat!("inet6_", $op)),
                            fexit(
                                concat!("fexit_unix_stream_", $op),
                                concat!("unix_stream_", $op),
                            ),
                            fexit(
                                concat!("fexit_unix_dgram_", $op),
                                concat!("unix_dgram_", $op),
                            ),
                        ],
                    },
                    Way {
                        probe: concat!("fexit:", $func),
                        programs: &[fexit(concat!("fexit_", $func), $func)],
                    },
                    Way {
                        probe: concat!("kprobe:", $func),
                        programs: &[
                            kprobe(concat!("kprobe_", $func), $func),
                            kretprobe(concat!("kretprobe_", $func), $func),
                        ],
                    },
                    Way {
                        probe: concat!("tracepoint:syscalls:sys_enter_{", $call1, ",", $call2, "}"),
                        programs: &[
                            tp(concat!("sys_enter_", $call1), "syscalls"),
                            tp(concat!("sys_exit_", $call1), "syscalls"),
                            tp(concat!("sys_enter_", $call2), "syscalls"),
                            tp(concat!("sys_exit_", $call2), "syscalls"),
                        ],
                    },
                ]
            }
        };
    }
    // A TCP event: the BTF-typed tracepoint, then the raw one (the
    // programs read the socket the same way; tp_btf needs 5.5+ and BTF).
    macro_rules! tcp {
        ($tp:literal) => {
            const {
                &[
                    Way {
                        probe: concat!("tp_btf:", $tp),
                        programs: &[tp_btf(concat!("btf_", $tp), $tp)],
                    },
                    Way {
                        probe: concat!("rawtracepoint:", $tp),
                        programs: &[raw_tp(concat!("raw_", $tp), $tp)],
                    },
                ]
            }
        };
    }
    match kind {
        EventKind::Socket => syscall!("sys_enter_socket", "sys_exit_socket"),
        EventKind::Socketpair => syscall!("sys_enter_socketpair", "sys_exit_socketpair"),
        EventKind::Bind => syscall!("sys_enter_bind", "sys_exit_bind"),
        EventKind::Connect => syscall!("sys_enter_connect", "sys_exit_connect"),
        EventKind::Accept => syscall!("sys_enter_accept", "sys_exit_accept"),
        EventKind::Accept4 => syscall!("sys_enter_accept4", "sys_exit_accept4"),
        EventKind::Listen => syscall!("sys_enter_listen", "sys_exit_listen"),
        EventKind::TcpState => tcp!("inet_sock_set_state"),
        EventKind::TcpRetransmit => tcp!("tcp_retransmit_skb"),
        // No tracepoint marks a socket's end: where the kernel allows
        // neither trampolines nor kprobes, `close` is not recorded.
        EventKind::Close => {
            const {
                &[
                    Way {
                        probe: "fentry:sock_close",
                        programs: &[fentry("fentry_sock_close", "sock_close")],
                    },
                    Way {
                        probe: "kprobe:sock_close",
                        programs: &[kprobe("kprobe_sock_close", "sock_close")],
                    },
                ]
            }
        }
        EventKind::Send => message!(
            "sock_send_length",
            "sock_sendmsg",
            "sendmsg",
            "sendto",
            "sendmsg"
        ),
        EventKind::Recv => message!(
            "sock_recv_length",
            "sock_recvmsg",
            "recvmsg",
            "recvfrom",
            "recvmsg"
        ),
    }
}

/// Splits a comma-separated list of way names (`SOCKREC_EXCLUDE_PROBES`);
/// commas inside `{...}` are part of a name.
pub fn split_names(list: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let (mut depth, mut start) = (0u32, 0);
    for (i, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                names.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    names.push(list[start..].trim());
    names.retain(|n| !n.is_empty());
    names
}

/// What happened to one event kind at attach time.
#[derive(Clone, Debug)]
pub struct ProbeOutcome {
    pub kind: EventKind,
    /// The way that attached, if any.
    pub attached: Option<&'static str>,
    /// Ways passed over, with the reason.
    pub skipped: Vec<(&'static str, String)>,
}

impl ProbeOutcome {
    /// One line for `sockrec.probes` and the terminal:
    /// `connect=tracepoint:syscalls:sys_enter_connect` or
    /// `send=none (tracepoint:sock:sock_send_length: not found)`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}={}", self.kind.name(), self.attached.unwrap_or("none"));
        if !self.skipped.is_empty() {
            let why: Vec<String> = self
                .skipped
                .iter()
                .map(|(way, why)| format!("{way}: {why}"))
                .collect();
            s.push_str(&format!(" (skipped {})", why.join("; ")));
        }
        s
    }
}

impl ProbeOutcome {
    /// The outcome as `sockrec probes` prints it: the kind and its probe on
    /// one line, then one indented line per way passed over.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{:<NAME_WIDTH$} {}\n",
            self.kind.name(),
            self.attached.unwrap_or("none: not recorded")
        );
        for (way, why) in &self.skipped {
            s.push_str(&format!("{:<NAME_WIDTH$}   not {way}: {why}\n", ""));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fexit:{a,b}_x` → `fexit:a_x`, `fexit:b_x`; other names as they are.
    fn expand(probe: &str) -> Vec<String> {
        match (probe.find('{'), probe.find('}')) {
            (Some(open), Some(close)) => probe[open + 1..close]
                .split(',')
                .map(|alt| format!("{}{alt}{}", &probe[..open], &probe[close + 1..]))
                .collect(),
            _ => vec![probe.to_string()],
        }
    }

    #[test]
    fn excluded_names_keep_their_braces() {
        assert_eq!(
            split_names("rawtracepoint:sock_send_length, fexit:{inet,inet6}_sendmsg,,kprobe:x"),
            [
                "rawtracepoint:sock_send_length",
                "fexit:{inet,inet6}_sendmsg",
                "kprobe:x"
            ]
        );
        assert!(split_names("").is_empty());
    }

    /// Every kind has at least one way, and a way's name says where its
    /// programs attach, after the prefix of its kind of attachment: a
    /// `{a,b}` name names every program; otherwise the name is the first
    /// program's (the entry of an entry/exit pair).
    #[test]
    fn every_kind_has_a_way() {
        for kind in EventKind::ALL {
            let ways = ways(kind);
            assert!(!ways.is_empty(), "{kind:?}");
            for way in ways {
                let names = expand(way.probe);
                let named = if names.len() > 1 {
                    way.programs.len()
                } else {
                    1
                };
                for p in &way.programs[..named] {
                    let prefix = match p.attach {
                        Attach::Tracepoint { .. } => "tracepoint:",
                        Attach::RawTracepoint => "rawtracepoint:",
                        Attach::BtfTracepoint => "tp_btf:",
                        Attach::FEntry => "fentry:",
                        Attach::FExit => "fexit:",
                        Attach::KProbe | Attach::KRetProbe => "kprobe:",
                    };
                    // An exit is named by its entry (`sys_enter_X` for `sys_exit_X`).
                    let entry = p.target.replace("sys_exit_", "sys_enter_");
                    assert!(
                        names
                            .iter()
                            .any(|n| n.starts_with(prefix) && n.ends_with(&entry)),
                        "{} does not name {p:?}",
                        way.probe
                    );
                }
            }
        }
    }
}
