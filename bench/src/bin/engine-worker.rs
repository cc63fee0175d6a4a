//! `engine-worker`: the real worker (`contaxy_worker::Application`, configured
//! from the environment as `contaxy-worker` is) around the in-memory
//! [`NullRuntime`] instead of Docker, so that the engine bench measures the
//! action pipeline and not the container engine. A bench tool: never
//! shipped, never deployed.

#[path = "../null_runtime.rs"]
mod null_runtime;

use std::sync::Arc;

use contaxy_common::{config, shutdown, telemetry};
use contaxy_worker::{Application, WorkerSettings};
use null_runtime::NullRuntime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = config::load_or_exit::<WorkerSettings>();
    telemetry::init(config.common.log_format);
    let app = Application::build(config, shutdown::on_signal())
        .await?
        .with_runtime(Arc::new(NullRuntime::default()));
    app.run_until_stopped().await
}
