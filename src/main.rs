use anyhow::Context as _;
use clap::Parser;
use hive::app::{prepare_store, shutdown_signal, Application};
use hive::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    hive::telemetry::init_as(cli.log_format);
    let outcome = match cli.command {
        #[cfg(feature = "tools")]
        Command::Tool(tool) => hive::commands::tools::run(tool),
        Command::Serve(args) => actix_rt::System::new().block_on(serve(args)),
        Command::Migrate(args) => actix_rt::System::new().block_on(async move {
            let database = prepare_store(&args.config()?).await?;
            tracing::info!(%database, "database is up to date");
            Ok(())
        }),
        Command::Token(command) => {
            actix_rt::System::new().block_on(hive::commands::token::token(command))
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: hive::cli::ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let mut stop = std::pin::pin!(shutdown_signal().context("listening for SIGTERM and SIGINT")?);
    // A start-up can wait long (migrations behind another process's lock): a signal then ends
    // it, as it would a running server, rather than waiting.
    let app = tokio::select! {
        app = Application::build(config) => app?,
        () = &mut stop => {
            tracing::info!("stopped by a signal before the server was ready");
            return Ok(());
        }
    };
    app.run_until_stopped(stop).await
}
