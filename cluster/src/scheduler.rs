//! `sockrec cluster scheduler`: Ballista's scheduler
//! (`ballista_scheduler::scheduler_process`), planning each query in a
//! session with sockrec's functions and capture stores.
//!
//! It plans a query from the client's logical plan: it decodes the plan
//! (the functions by name), lists the captures' files or objects, and
//! splits the plan into stages for the executors.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::{functions::session_state, registry::CaptureStores};

/// The scheduler's settings, as Ballista's `ballista-scheduler` takes them.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    /// Where to listen (gRPC for clients and executors); port 0 picks one.
    pub bind: SocketAddr,
    /// The host name executors and clients reach this scheduler by.
    pub external_host: String,
    /// An executor silent for this long is taken as lost: its tasks run
    /// again elsewhere.
    pub executor_timeout_seconds: u64,
    /// How often to look for lost executors.
    pub expire_dead_executor_interval_seconds: u64,
    /// With no executor left, how long a job waits for one before it fails.
    pub no_executors_grace_period_seconds: u64,
    /// How many times a task may fail before its job does.
    pub task_max_failures: usize,
}

/// Runs the scheduler until it fails (or the process is stopped). `ready`
/// is told the address it listens on, once it does.
pub async fn run(options: SchedulerOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("listening on {}", options.bind))?;
    let addr = listener.local_addr()?;
    // One runtime (and so one S3 client per bucket) for every query.
    let runtime = Arc::new(
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(CaptureStores::default()))
            .build()?,
    );
    let config = SchedulerConfig {
        bind_host: addr.ip().to_string(),
        // `scheduler_endpoint()` is external_host:bind_port.
        bind_port: addr.port(),
        external_host: options.external_host,
        executor_timeout_seconds: options.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: options.expire_dead_executor_interval_seconds,
        no_executors_grace_period_seconds: options.no_executors_grace_period_seconds,
        task_max_failures: options.task_max_failures,
        ..Default::default()
    }
    .with_override_session_builder(Arc::new(move |config| {
        Ok(session_state(config, runtime.clone()))
    }));
    let config = Arc::new(config);
    config.validate().map_err(|e| anyhow!("{e}"))?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow!("starting the scheduler: {e}"))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(|e| anyhow!("starting the scheduler: {e}"))?;
    ready(addr);
    start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(|e| anyhow!("scheduler: {e}"))
}
