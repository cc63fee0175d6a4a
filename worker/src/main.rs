//! `contaxy-worker`: loads its configuration and runs until SIGTERM or ctrl-c.

use contaxy_common::{config, shutdown, telemetry};
use contaxy_worker::{Application, WorkerSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = config::load_or_exit::<WorkerSettings>();
    telemetry::init(config.common.log_format);
    let app = Application::build(config, shutdown::on_signal()).await?;
    app.run_until_stopped().await
}
