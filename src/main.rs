use clap::Parser;
use hive::app::{prepare_store, shutdown_signal, Application};
use hive::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    hive::telemetry::init();
    let cli = Cli::parse();
    let outcome = actix_rt::System::new().block_on(async move {
        match cli.command {
            Command::Serve(args) => {
                let app = Application::build(args.config()?).await?;
                app.run_until_stopped(shutdown_signal()).await
            }
            Command::Migrate(args) => {
                let database = prepare_store(&args.config()?).await?;
                tracing::info!(%database, "database is up to date");
                Ok(())
            }
            Command::Token(command) => hive::commands::token(command).await,
        }
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
