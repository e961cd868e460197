//! `sockrec cluster scheduler|executor`: Apache DataFusion Ballista's
//! scheduler and executor with sockrec's functions and capture stores
//! (sockrec-cluster), for `sockrec query --cluster df://HOST:PORT`. The
//! flags are those of Ballista's `ballista-scheduler` and
//! `ballista-executor`; the timeouts default shorter, so that a lost
//! executor is noticed in seconds rather than minutes (README, "Many hosts").

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow};
use sockrec_cluster::executor::ExecutorOptions;
use sockrec_cluster::scheduler::SchedulerOptions;

#[derive(clap::Subcommand)]
pub enum ClusterCommand {
    /// Run a scheduler: clients (`query --cluster df://HOST:PORT`) and
    /// executors connect to it.
    Scheduler(SchedulerArgs),
    /// Run an executor for the scheduler at --scheduler HOST:PORT.
    Executor(ExecutorArgs),
}

#[derive(clap::Args)]
pub struct SchedulerArgs {
    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_host: IpAddr,
    /// The port to listen on (0: any free one, printed).
    #[arg(short = 'p', long, default_value_t = 50050)]
    bind_port: u16,
    /// The host name executors and clients reach this scheduler by.
    #[arg(long, default_value = "localhost")]
    external_host: String,
    /// An executor silent this long is lost; its tasks run again elsewhere
    /// [Ballista's default: 180].
    #[arg(long, default_value_t = 30)]
    executor_timeout_seconds: u64,
    /// How often to look for lost executors.
    #[arg(long, default_value_t = 5)]
    expire_dead_executor_interval_seconds: u64,
    /// With no executor left, how long a job waits for one before it fails
    /// [default: --executor-timeout-seconds].
    #[arg(long)]
    no_executors_grace_period_seconds: Option<u64>,
    /// How many times a task may fail before its job does.
    #[arg(long, default_value_t = 4)]
    task_max_failures: usize,
}

#[derive(clap::Args)]
pub struct ExecutorArgs {
    /// The scheduler, HOST:PORT.
    #[arg(long, default_value = "localhost:50050", value_name = "HOST:PORT")]
    scheduler: String,
    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_host: String,
    /// The host name the scheduler and clients reach this executor by
    /// [default: the address the scheduler sees it connect from].
    #[arg(long)]
    external_host: Option<String>,
    /// The Arrow Flight port clients and other executors fetch results from.
    #[arg(short = 'p', long, default_value_t = 50051)]
    bind_port: u16,
    /// The port the scheduler launches tasks on.
    #[arg(long, default_value_t = 50052)]
    bind_grpc_port: u16,
    /// Tasks at once (0: one per core).
    #[arg(short = 'c', long, default_value_t = 0)]
    vcores: usize,
    /// Where shuffle files and spills go [default: a directory in the
    /// system's temporary directory].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// How often to tell the scheduler this executor is alive [Ballista's default: 60].
    #[arg(long, default_value_t = 5)]
    executor_heartbeat_interval_seconds: u64,
    /// How long to keep trying to reach the scheduler at start.
    #[arg(long, default_value_t = 30)]
    scheduler_connect_timeout_seconds: u16,
}

pub fn run(command: ClusterCommand) -> Result<()> {
    // Ballista's binaries run on 32 MiB thread stacks: planning and
    // decoding deep plans recurses.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()
        .context("starting the runtime")?;
    match command {
        ClusterCommand::Scheduler(a) => {
            let options = SchedulerOptions {
                bind: SocketAddr::new(a.bind_host, a.bind_port),
                external_host: a.external_host.clone(),
                executor_timeout_seconds: a.executor_timeout_seconds,
                expire_dead_executor_interval_seconds: a.expire_dead_executor_interval_seconds,
                no_executors_grace_period_seconds: a
                    .no_executors_grace_period_seconds
                    .unwrap_or(a.executor_timeout_seconds),
                task_max_failures: a.task_max_failures,
            };
            let external = a.external_host;
            runtime.block_on(sockrec_cluster::scheduler::run(options, |addr| {
                eprintln!(
                    "sockrec: scheduler listening on {addr}: query --cluster df://{external}:{}",
                    addr.port()
                );
            }))
        }
        ClusterCommand::Executor(a) => {
            let (host, port) = a
                .scheduler
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| anyhow!("--scheduler {}: not HOST:PORT", a.scheduler))?;
            let work_dir = a.work_dir.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("sockrec-executor-{}", std::process::id()))
            });
            let said = format!(
                "sockrec: executor for scheduler {host}:{port}, Flight on {}:{}, tasks on {}:{}, work in {}",
                a.bind_host,
                a.bind_port,
                a.bind_host,
                a.bind_grpc_port,
                work_dir.display()
            );
            let options = ExecutorOptions {
                scheduler_host: host,
                scheduler_port: port,
                bind_host: a.bind_host,
                external_host: a.external_host,
                port: a.bind_port,
                grpc_port: a.bind_grpc_port,
                vcores: a.vcores,
                work_dir,
                executor_heartbeat_interval_seconds: a.executor_heartbeat_interval_seconds,
                scheduler_connect_timeout_seconds: a.scheduler_connect_timeout_seconds,
            };
            runtime.block_on(sockrec_cluster::executor::run(options, || {
                eprintln!("{said}")
            }))
        }
    }
}
