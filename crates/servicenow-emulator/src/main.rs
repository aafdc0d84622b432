//! The `servicenow-emulator` binary: a ServiceNow instance on localhost for developing and
//! testing integrations without a real one.

use std::net::{Ipv4Addr, SocketAddr};

use std::io::Write as _;

use clap::Parser;
use servicenow_emulator::EmulatorArgs;

/// A ServiceNow instance on localhost: OAuth 2.0 with login and consent pages, and the Table API.
#[derive(Debug, Parser)]
#[command(name = "servicenow-emulator", version, about)]
struct Cli {
    #[command(flatten)]
    emulator: EmulatorArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = Cli::parse().emulator;
    args.listen = Some(
        args.listen
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 8080))),
    );
    let emulator = args.into_builder()?.start().await?;
    print_summary(&emulator);
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}

/// Tells the user where the instance is. Write errors are ignored: a closed stdout (a parent
/// process that read only the first line) must not stop the server.
fn print_summary(emulator: &servicenow_emulator::EmulatorHandle) {
    let mut stdout = std::io::stdout().lock();
    macro_rules! say {
        ($($argument:tt)*) => {
            let _ = writeln!(stdout, $($argument)*);
        };
    }
    say!("ServiceNow emulator listening on {}", emulator.base_url());
    for client in emulator.clients() {
        let kind = match &client.client_secret {
            Some(secret) => format!("confidential, client_secret {}", secret.expose()),
            None => "public, PKCE S256 required".to_owned(),
        };
        say!("  client {} ({kind})", client.client_id);
        say!("    redirect URIs: {}", client.redirect_uris.join(", "));
        say!(
            "    token lifespans: access {} s, refresh {} s",
            client.access_token_ttl.as_secs(),
            client.refresh_token_ttl.as_secs()
        );
    }
    for user in emulator.users() {
        say!(
            "  user {} (password {})",
            user.user_name,
            user.password.expose()
        );
    }
    let rows: Vec<String> = emulator
        .generated_rows()
        .iter()
        .map(|(table, rows)| format!("{table}={rows}"))
        .collect();
    say!("  tables: {} (seed {})", rows.join(", "), emulator.seed());
    say!(
        "  authorize: {}/oauth_auth.do   token: {}/oauth_token.do",
        emulator.base_url(),
        emulator.base_url()
    );
    say!(
        "  Table API: {}/api/now/table/incident   (Ctrl-C stops)",
        emulator.base_url()
    );
}
