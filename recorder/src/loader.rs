//! Open → configure → load → attach, as BCC's libbpf-tools do.
//!
//! The eBPF object is embedded in the binary at build time. Configuration
//! happens before load through globals (filters, our own pid, kernel field
//! offsets) and the ring buffer's size; then each event kind is attached by
//! the first way in the probe plan (`probes.rs`) that works here.

use anyhow::{Context as _, Result, anyhow, bail};
use aya::{
    Btf, Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
    programs::{BtfTracePoint, FEntry, FExit, KProbe, Program, RawTracePoint, TracePoint},
};
use sockrec_common::{EventKind, MessageBatch, PendingCall, SocketEvent};
use std::path::Path;

use crate::{
    EBPF_OBJECT, kernel_fields,
    options::Filters,
    probes::{self, Attach, ProbeOfKind, ProbeOutcome},
};

/// Loaded and attached programs with the maps user space reads.
pub struct Loaded {
    pub ebpf: Ebpf,
    pub events: RingBuf<MapData>,
    pub pending: PendingCalls,
    pub lost: PerCpuArray<MapData, u64>,
    /// Each CPU's messages not yet in `events` (SEND_BATCH, RECV_BATCH):
    /// read once the programs are detached.
    pub batches: Vec<PerCpuArray<MapData, MessageBatch>>,
    pub outcomes: Vec<ProbeOutcome>,
    /// Which code the programs run on this kernel.
    pub code: KernelCode,
    /// For each kind (indexed by its wire value), the probe that catches it.
    pub probe_of_kind: ProbeOfKind,
}

/// Calls seen at entry and not at exit, where the programs keep them
/// (ebpf/sockrec-ebpf/src/pending.rs).
pub enum PendingCalls {
    Slots(Array<MapData, PendingCall>),
    Hash(HashMap<MapData, u64, PendingCall>),
}

impl PendingCalls {
    /// The calls still waiting for their exit: read once the programs
    /// are detached.
    pub fn in_flight(&self) -> Vec<SocketEvent> {
        match self {
            PendingCalls::Slots(slots) => slots
                .iter()
                .filter_map(Result::ok)
                .filter(|call| call.owner != 0)
                .map(|call| call.event)
                .collect(),
            PendingCalls::Hash(map) => map
                .iter()
                .filter_map(Result::ok)
                .map(|(_, call)| call.event)
                .collect(),
        }
    }
}

/// Which kernel-side code paths the running kernel allows: the programs
/// carry both, and the verifier follows the one the globals pick.
#[derive(Clone, Copy, Debug)]
pub struct KernelCode {
    /// The task read through `bpf_get_current_task_btf()` and plain loads
    /// (Linux 5.11+) rather than a helper per field (task.rs).
    task_btf: bool,
    /// Calls in progress in the slot array, which needs `BPF_CMPXCHG`
    /// (Linux 5.12+), rather than the hash map (pending.rs).
    pending_slots: bool,
}

impl KernelCode {
    /// One line for `sockrec.probes`, after the probes: which code the
    /// programs ran, e.g. `programs=task:btf,calls:slots`.
    pub fn describe(&self) -> String {
        format!("programs={}", self.summary())
    }

    /// `task:btf,calls:slots` (or `helpers`, `hash`).
    pub fn summary(&self) -> String {
        format!(
            "task:{},calls:{}",
            if self.task_btf { "btf" } else { "helpers" },
            if self.pending_slots { "slots" } else { "hash" }
        )
    }

    /// `SOCKREC_PRE_5_12=1` takes the paths for kernels before 5.11/5.12
    /// where the newer ones work, which is how the tests run them here.
    fn detect(btf: &btf_rs::Btf) -> KernelCode {
        if std::env::var_os("SOCKREC_PRE_5_12").is_some_and(|v| v == "1") {
            return KernelCode {
                task_btf: false,
                pending_slots: false,
            };
        }
        // BPF_CMPXCHG came with the other atomics in 5.12 ("bpf: Add
        // instructions for atomic_[cmp]xchg").
        // Kernels that backport BPF features may have it earlier; they get
        // the hash map, which works everywhere.
        let atomics = aya::util::KernelVersion::current()
            .is_ok_and(|v| v >= aya::util::KernelVersion::new(5, 12, 0));
        KernelCode {
            task_btf: kernel_fields::has_helper(btf, "get_current_task_btf"),
            pending_slots: atomics,
        }
    }
}

/// Where tracefs must be for tracepoints to attach.
const TRACEFS: &str = "/sys/kernel/tracing";

/// Mounts tracefs if nothing is there yet: aya finds tracepoint ids in it,
/// and minimal systems (or fresh VMs) leave it unmounted.
fn ensure_tracefs() -> Result<()> {
    let events = Path::new(TRACEFS).join("events");
    if events.exists() || Path::new("/sys/kernel/debug/tracing/events").exists() {
        return Ok(());
    }
    let r = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        bail!(
            "tracefs is not mounted at {TRACEFS} and mounting it failed ({}); run: mount -t tracefs tracefs {TRACEFS}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Loads the programs configured by `filters` and attaches every kind the
/// filters ask for.
pub fn load(filters: &Filters, buffer_bytes: u32, wakeup_bytes: u64) -> Result<Loaded> {
    crate::privileges::check()?;
    ensure_tracefs()?;
    let btf = kernel_fields::open(Path::new(kernel_fields::VMLINUX_BTF))?;
    let fields = kernel_fields::resolve(&btf)?;
    let code = KernelCode::detect(&btf);
    let task_btf = u32::from(code.task_btf);

    // Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) };

    let self_pid = std::process::id();
    let comm = filters.comm_bytes();
    let (cgroup, level) = filters
        .cgroup
        .as_ref()
        .map_or((0u64, 0u32), |c| (c.id, c.level));
    let mask = filters.event_mask();
    let pid = filters.pid.unwrap_or(0);
    let mut ebpf = EbpfLoader::new()
        .override_global("SELF_PID", &self_pid, true)
        .override_global("FILTER_PID", &pid, true)
        .override_global("FILTER_COMM", &comm, true)
        .override_global("FILTER_CGROUP", &cgroup, true)
        .override_global("FILTER_CGROUP_LEVEL", &level, true)
        .override_global("EVENT_MASK", &mask, true)
        .override_global("WAKEUP_BYTES", &wakeup_bytes, true)
        .override_global("FIELDS", &fields, true)
        .override_global("TASK_BTF", &task_btf, true)
        // The store of calls in progress not used shrinks to one entry.
        .map_max_entries(
            if code.pending_slots {
                "PENDING"
            } else {
                "PENDING_SLOTS"
            },
            1,
        )
        .map_max_entries("EVENTS", buffer_bytes)
        .load(EBPF_OBJECT)
        .context("loading sockrec's eBPF object")?;
    if filters.cgroup.is_some() {
        check_cgroup_filter(&mut ebpf)?;
    }

    let mut outcomes = Vec::new();
    let mut probe_of_kind = [""; EventKind::ALL.len() + 1];
    let mut btf = None;
    for kind in EventKind::ALL {
        if mask & kind.bit() == 0 {
            continue;
        }
        let outcome = attach_kind(&mut ebpf, kind, code.pending_slots, &mut btf);
        if let Some(probe) = outcome.attached {
            probe_of_kind[kind as usize] = probe;
        }
        outcomes.push(outcome);
    }
    if outcomes.iter().all(|o| o.attached.is_none()) {
        let why: Vec<String> = outcomes.iter().map(ProbeOutcome::describe).collect();
        bail!("no probe could be attached: {}", why.join("; "));
    }

    let take = |ebpf: &mut Ebpf, name: &str| {
        ebpf.take_map(name)
            .ok_or_else(|| anyhow!("eBPF object has no map {name}"))
    };
    let events = RingBuf::try_from(take(&mut ebpf, "EVENTS")?)?;
    let pending = if code.pending_slots {
        PendingCalls::Slots(Array::try_from(take(&mut ebpf, "PENDING_SLOTS")?)?)
    } else {
        PendingCalls::Hash(HashMap::try_from(take(&mut ebpf, "PENDING")?)?)
    };
    let lost = PerCpuArray::try_from(take(&mut ebpf, "LOST")?)?;
    let batches = ["SEND_BATCH", "RECV_BATCH"]
        .into_iter()
        .map(|name| Ok(PerCpuArray::try_from(take(&mut ebpf, name)?)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Loaded {
        ebpf,
        events,
        pending,
        lost,
        batches,
        outcomes,
        code,
        probe_of_kind,
    })
}

/// What the probe plan gives on this kernel: every kind attached (then
/// detached again) by the first way that works, with why earlier ways did
/// not, and which code the programs run. For `sockrec probes`.
pub fn plan() -> Result<(Vec<ProbeOutcome>, KernelCode)> {
    let loaded = load(&Filters::default(), 1 << 16, 1 << 14)?;
    Ok((loaded.outcomes, loaded.code))
}

/// Tries each way of catching `kind` until one loads and attaches.
/// `slots`: whether call programs keep calls in slots or (their `_hash`
/// twins) in the hash map.
/// Programs loaded only to learn what the kernel allows (features.rs).
pub(crate) const FEATURE_PROGRAMS: [&str; 1] = ["feature_ancestor_cgroup"];

/// `--cgroup` calls `bpf_get_current_ancestor_cgroup_id` in every program,
/// which tracing programs may not call before about 5.12 (ebpf/sockrec-ebpf
/// /src/features.rs): without this each program would fail to load and the
/// recorder would end in a page of verifier output.
fn check_cgroup_filter(ebpf: &mut Ebpf) -> Result<()> {
    const PROBE: &str = FEATURE_PROGRAMS[0];
    let prog: &mut TracePoint = ebpf
        .program_mut(PROBE)
        .ok_or_else(|| anyhow!("no program {PROBE}"))?
        .try_into()?;
    if prog.load().is_err() {
        bail!(
            "--cgroup: this kernel ({}) does not let tracing programs call bpf_get_current_ancestor_cgroup_id; filter with --pid or --comm instead",
            crate::host::kernel_release()
        );
    }
    drop(prog.unload());
    Ok(())
}

fn attach_kind(
    ebpf: &mut Ebpf,
    kind: EventKind,
    slots: bool,
    btf: &mut Option<Btf>,
) -> ProbeOutcome {
    let mut outcome = ProbeOutcome {
        kind,
        attached: None,
        skipped: Vec::new(),
    };
    let excluded = std::env::var("SOCKREC_EXCLUDE_PROBES").unwrap_or_default();
    let excluded = probes::split_names(&excluded);
    for way in probes::ways(kind) {
        if excluded.contains(&way.probe) {
            outcome
                .skipped
                .push((way.probe, "excluded by SOCKREC_EXCLUDE_PROBES".to_string()));
            continue;
        }
        match attach_way(ebpf, way, slots, btf) {
            Ok(()) => {
                outcome.attached = Some(way.probe);
                break;
            }
            Err(e) => {
                // A way is all its programs or none: one that attached
                // before another failed would double or skew the events.
                unload_way(ebpf, way);
                outcome.skipped.push((way.probe, format!("{e:#}")));
            }
        }
    }
    outcome
}

/// The kernel's BTF for tp_btf and fexit programs, parsed once per load
/// (it is megabytes: parsing it per program made the recorder's peak RSS).
fn kernel_btf(cache: &mut Option<Btf>) -> Result<&Btf> {
    if cache.is_none() {
        *cache = Some(Btf::from_sys_fs().context("reading kernel BTF")?);
    }
    Ok(cache.as_ref().expect("just set"))
}

fn attach_way(
    ebpf: &mut Ebpf,
    way: &probes::Way,
    slots: bool,
    btf: &mut Option<Btf>,
) -> Result<()> {
    for p in way.programs {
        let name = p.program_for(slots);
        let prog = ebpf
            .program_mut(name)
            .ok_or_else(|| anyhow!("no program {name}"))?;
        match p.attach {
            Attach::Tracepoint { category } => {
                let prog: &mut TracePoint = prog.try_into()?;
                prog.load().with_context(|| format!("loading {name}"))?;
                prog.attach(category, p.target)
                    .with_context(|| format!("attaching {category}:{}", p.target))?;
            }
            Attach::RawTracepoint => {
                let prog: &mut RawTracePoint = prog.try_into()?;
                prog.load()
                    .with_context(|| format!("loading {}", p.program))?;
                prog.attach(p.target)
                    .with_context(|| format!("attaching raw tracepoint {}", p.target))?;
            }
            Attach::BtfTracepoint => {
                let btf = kernel_btf(btf)?;
                let prog: &mut BtfTracePoint = prog.try_into()?;
                prog.load(p.target, btf)
                    .with_context(|| format!("loading tp_btf {}", p.target))?;
                prog.attach()
                    .with_context(|| format!("attaching tp_btf {}", p.target))?;
            }
            Attach::FEntry => {
                let btf = kernel_btf(btf)?;
                let prog: &mut FEntry = prog.try_into()?;
                prog.load(p.target, btf)
                    .with_context(|| format!("loading fentry {}", p.target))?;
                prog.attach()
                    .with_context(|| format!("attaching fentry {}", p.target))?;
            }
            Attach::FExit => {
                let btf = kernel_btf(btf)?;
                let prog: &mut FExit = prog.try_into()?;
                prog.load(p.target, btf)
                    .with_context(|| format!("loading fexit {}", p.target))?;
                prog.attach()
                    .with_context(|| format!("attaching fexit {}", p.target))?;
            }
            Attach::KProbe | Attach::KRetProbe => {
                let prog: &mut KProbe = prog.try_into()?;
                prog.load()
                    .with_context(|| format!("loading {}", p.program))?;
                prog.attach(p.target, 0)
                    .with_context(|| format!("attaching {} {}", p.program, p.target))?;
            }
        }
    }
    Ok(())
}

/// Detaches and unloads `way`'s programs, whichever of them were attached.
fn unload_way(ebpf: &mut Ebpf, way: &probes::Way) {
    for p in way.programs {
        unload(ebpf, p.program);
        if let Some(twin) = p.hash_twin {
            unload(ebpf, twin);
        }
    }
}

fn unload(ebpf: &mut Ebpf, name: &str) {
    match ebpf.program_mut(name) {
        Some(Program::TracePoint(p)) => drop(p.unload()),
        Some(Program::RawTracePoint(p)) => drop(p.unload()),
        Some(Program::BtfTracePoint(p)) => drop(p.unload()),
        Some(Program::FEntry(p)) => drop(p.unload()),
        Some(Program::FExit(p)) => drop(p.unload()),
        Some(Program::KProbe(p)) => drop(p.unload()),
        _ => {}
    }
}

/// Detaches every program so no new event is produced; the maps stay.
pub fn detach_all(ebpf: &mut Ebpf) {
    let names: Vec<String> = ebpf.programs().map(|(n, _)| n.to_string()).collect();
    for name in names {
        unload(ebpf, &name);
    }
}
