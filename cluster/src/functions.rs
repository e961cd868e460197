//! The session a Ballista scheduler plans a query in, and an executor runs
//! its tasks with: DataFusion's and Ballista's functions plus sockrec's
//! (`sockrec_analyzer::udf`), as `ballista_core::utils::default_session_builder`
//! builds it otherwise.

use std::sync::Arc;

use ballista_core::extension::{
    ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionConfig, SessionState};
use datafusion::execution::runtime_env::RuntimeEnv;

/// A session with sockrec's functions, in `config`, reading through `runtime`.
pub fn session_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionState {
    let mut scalars = ballista_scalar_functions();
    scalars.extend(sockrec_analyzer::udf::all().into_iter().map(Arc::new));
    SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(scalars)
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build()
}
