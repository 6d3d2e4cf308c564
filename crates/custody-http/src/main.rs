//! The `custody` binary: `custody serve` runs the API; `custody admin …` is for operators.

use clap::Parser as _;
use custody_http::cli::{Cli, Command};
use custody_http::configuration::Settings;
use custody_http::startup::Application;
use custody_http::{admin, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.overrides())?;
    telemetry::init(settings.log.format, &settings.log.level);
    match cli.command {
        Command::Serve(_) => {
            let app = Application::build(&settings).await?;
            tracing::info!(listen = %settings.server.listen, port = app.port(), "custody serving");
            app.run_until_stopped().await?;
            tracing::info!("custody stopped");
        }
        Command::Admin(args) => admin::run(&settings, args.command).await?,
        Command::Openapi => print!("{}", custody_http::openapi::document_json()),
    }
    Ok(())
}
