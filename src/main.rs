use anyhow::Context as _;
use clap::Parser;
use hive::app::{prepare_store, shutdown_signal, Application};
use hive::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    hive::telemetry::init_as(cli.log_format);
    let outcome = match cli.command {
        // The load tester and the gate are clients: a multi-threaded runtime of their own, so the
        // load is not bound to one thread, and no actor system.
        Command::Loadtest(args) => {
            client_runtime().and_then(|rt| rt.block_on(hive::commands::loadtest(args)))
        }
        Command::Replay {
            trace,
            trace_file,
            agents,
            sleep_ms,
            max_agents,
            json,
            timeline,
        } => client_runtime().and_then(|rt| {
            rt.block_on(hive::commands::replay(
                &trace,
                &trace_file,
                agents,
                sleep_ms,
                max_agents,
                json,
                timeline.as_deref(),
            ))
        }),
        Command::Gate(args) => {
            client_runtime().and_then(|rt| rt.block_on(hive::commands::gate(args)))
        }
        Command::Detect { input, detector } => hive::commands::detect(&input, detector),
        Command::Forecast {
            input,
            horizon,
            forecaster,
        } => hive::commands::forecast(&input, horizon, forecaster),
        Command::Predict { input, limit } => hive::commands::predict(&input, limit),
        Command::Evaluate {
            nab,
            horizons,
            json,
        } => hive::commands::evaluate(&nab, &horizons, json),
        server => actix_rt::System::new().block_on(async move {
            match server {
                Command::Serve(args) => {
                    let config = args.config()?;
                    let mut stop = std::pin::pin!(
                        shutdown_signal().context("listening for SIGTERM and SIGINT")?
                    );
                    // A start-up can wait long (migrations behind another process's lock): a
                    // signal then ends it, as it would a running server, rather than waiting.
                    let app = tokio::select! {
                        app = Application::build(config) => app?,
                        () = &mut stop => {
                            tracing::info!("stopped by a signal before the server was ready");
                            return Ok(());
                        }
                    };
                    app.run_until_stopped(stop).await
                }
                Command::Migrate(args) => {
                    let database = prepare_store(&args.config()?).await?;
                    tracing::info!(%database, "database is up to date");
                    Ok(())
                }
                Command::Token(command) => hive::commands::token(command).await,
                _ => unreachable!("handled above"),
            }
        }),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
