//! `contaxy-api`: loads its configuration and runs the API until SIGTERM or
//! ctrl-c.

use contaxy_api::{ApiSettings, Application};
use contaxy_common::{config, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = config::load_or_exit::<ApiSettings>();
    telemetry::init(config.common.log_format);
    let app = Application::build(config, shutdown::on_signal()).await?;
    app.run_until_stopped().await
}
