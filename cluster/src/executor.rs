//! `sockrec cluster executor`: Ballista's executor
//! (`ballista_executor::executor_process`), running tasks with sockrec's
//! functions and reading captures through sockrec's capture stores.

use std::path::PathBuf;
use std::sync::Arc;

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::execution::context::SessionConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;

use crate::{functions::session_state, registry::CaptureStores};

/// The executor's settings, as Ballista's `ballista-executor` takes them.
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// Where to listen: Flight (results and shuffles) on `port`, task
    /// launches from the scheduler on `grpc_port`.
    pub bind_host: String,
    /// The host name the scheduler and clients reach this executor by
    /// (None: the address the scheduler sees it connect from).
    pub external_host: Option<String>,
    pub port: u16,
    pub grpc_port: u16,
    /// Tasks at once (0: one per core).
    pub vcores: usize,
    /// Where shuffle files and spills go.
    pub work_dir: PathBuf,
    /// How often it tells the scheduler it is alive.
    pub executor_heartbeat_interval_seconds: u64,
    /// How long to keep trying to reach the scheduler at start (0: fail at once).
    pub scheduler_connect_timeout_seconds: u16,
}

/// Runs the executor until it is stopped (SIGINT, SIGTERM: it finishes
/// its tasks and tells the scheduler) or fails. `ready` is called once the
/// scheduler answers.
pub async fn run(options: ExecutorOptions, ready: impl FnOnce()) -> Result<()> {
    std::fs::create_dir_all(&options.work_dir)
        .with_context(|| format!("{}", options.work_dir.display()))?;
    let work_dir = options
        .work_dir
        .to_str()
        .ok_or_else(|| anyhow!("{}: not UTF-8", options.work_dir.display()))?
        .to_string();
    wait_for_scheduler(
        &options.scheduler_host,
        options.scheduler_port,
        options.scheduler_connect_timeout_seconds,
    )
    .await?;
    ready();
    let stores = Arc::new(CaptureStores::default());
    let functions = BallistaFunctionRegistry::from(&session_state(
        SessionConfig::new(),
        Arc::new(RuntimeEnvBuilder::new().build()?),
    ));
    let temp = work_dir.clone();
    let config = ExecutorProcessConfig {
        scheduler_host: options.scheduler_host,
        scheduler_port: options.scheduler_port,
        bind_host: options.bind_host,
        external_host: options.external_host,
        port: options.port,
        grpc_port: options.grpc_port,
        vcores: options.vcores,
        work_dir: Some(work_dir),
        executor_heartbeat_interval_seconds: options.executor_heartbeat_interval_seconds,
        // Waited for above: Ballista 55's own wait never ends (it measures
        // `Instant::now().elapsed()`, always 0, in executor_process.rs).
        scheduler_connect_timeout_seconds: 0,
        override_function_registry: Some(Arc::new(functions)),
        // Ballista's own producer only sets the spill directory.
        override_runtime_producer: Some(Arc::new(move |_| {
            Ok(Arc::new(
                RuntimeEnvBuilder::new()
                    .with_temp_file_path(temp.clone())
                    .with_object_store_registry(stores.clone())
                    .build()?,
            ))
        })),
        ..Default::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| anyhow!("executor: {e}"))
}

/// Waits until the scheduler accepts connections, for up to `seconds`
/// (0: one try), so that an executor started first waits for it, and one
/// pointed at nothing ends with one line.
async fn wait_for_scheduler(host: &str, port: u16, seconds: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(seconds.into());
    loop {
        match tokio::net::TcpStream::connect((host, port)).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                bail!("no scheduler answers at {host}:{port} (waited {seconds} s): {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
