//! `sn`: ServiceNow from a terminal. Log in with your browser (authorization code + PKCE on a
//! loopback redirect), keep the tokens encrypted and refreshed, read and export tables, and see
//! the whole flow against a built-in emulator with `sn demo`.

mod api_command;
mod attachment_command;
mod auth_commands;
mod cli;
mod demo;
mod export;
mod export_parallel;
mod failure;
mod keys;
mod loopback;
mod network;
mod output;
mod profile;
mod session;
mod stats_command;
mod store_commands;
mod table_commands;
mod unattended;
mod untrusted;

use std::process::ExitCode;

use clap::Parser as _;

use crate::{
    cli::{Cli, Command},
    failure::{CliError, CliResult},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return report(&CliError::local(
                format!("cannot start the async runtime: {error}"),
                None,
            ));
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

async fn run(cli: Cli) -> CliResult<()> {
    let global = &cli.global;
    match &cli.command {
        Command::Login(args) => auth_commands::login(global, args).await,
        Command::Logout => auth_commands::logout(global).await,
        Command::Status(args) => auth_commands::status(global, args).await,
        Command::Table(command) => table_commands::run(global, command).await,
        Command::Export(args) => export::run(global, args).await,
        Command::Stats(args) => stats_command::run(global, args).await,
        Command::Api(args) => api_command::run(global, args).await,
        Command::Attachment(command) => attachment_command::run(global, command).await,
        Command::Emulator(args) => run_emulator(args.emulator.clone()).await,
        Command::Demo(args) => demo::run(global, args).await,
        Command::Store(command) => store_commands::run(global, command).await,
    }
}

/// `sn emulator`: the same as the `servicenow-emulator` binary, default 127.0.0.1:8080.
async fn run_emulator(mut args: servicenow_emulator::EmulatorArgs) -> CliResult<()> {
    let listen = args
        .listen
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    args.listen = Some(listen);
    let builder = args.into_builder().map_err(|error| {
        CliError::local(
            format!("the emulator did not start: {error}"),
            Some("check the files given to --tls-cert, --tls-key and --tls-client-ca".to_owned()),
        )
    })?;
    let emulator = builder.start().await.map_err(|error| {
        CliError::local(
            format!("the emulator did not start: {error}"),
            Some("pass --listen 127.0.0.1:PORT with a free port (0 picks one)".to_owned()),
        )
    })?;
    output::say(&format!(
        "ServiceNow emulator listening on {}",
        emulator.base_url()
    ));
    for client in emulator.clients() {
        let kind = if client.is_public() {
            "public, PKCE"
        } else {
            "confidential"
        };
        output::say(&format!(
            "  client {} ({kind}); redirect URIs {}",
            client.client_id,
            client.redirect_uris.join(", ")
        ));
    }
    let users: Vec<String> = emulator
        .users()
        .into_iter()
        .map(|user| user.user_name)
        .collect();
    output::say(&format!("  users: {} (Ctrl-C stops)", users.join(", ")));
    tokio::signal::ctrl_c()
        .await
        .map_err(|error| CliError::unexpected(format!("waiting for Ctrl-C: {error}")))?;
    emulator.shutdown().await;
    Ok(())
}

fn report(error: &CliError) -> ExitCode {
    // An error may quote what a server sent: no escape sequence of it reaches the terminal.
    eprintln!("sn: {}", untrusted::terminal_text(&error.to_string()));
    if let Some(hint) = error.hint() {
        eprintln!("  hint: {}", untrusted::terminal_text(hint));
    }
    ExitCode::from(error.exit_code())
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
