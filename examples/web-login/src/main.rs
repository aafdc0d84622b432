//! Runs the example web app: `cargo run -p web-login -- --emulator` to try it against a built-in
//! emulator, or with `--instance`, `--client-id` and `SN_CLIENT_SECRET` against a real instance.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context as _;
use clap::Parser;
use servicenow::oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri};
use servicenow_emulator::{
    ClientRegistration, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, EmulatorHandle,
};
use web_login::{App, AppConfig, SessionLimits, network::NetworkArgs, open_store};

/// The example web app: "Connect ServiceNow", then your open incidents.
#[derive(Debug, Parser)]
#[command(name = "web-login", about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Start a ServiceNow emulator in-process and use it (log in as admin/admin).
    #[arg(long, conflicts_with_all = ["instance", "client_id"])]
    emulator: bool,
    /// The ServiceNow instance, e.g. https://dev12345.service-now.com.
    #[arg(long, required_unless_present = "emulator")]
    instance: Option<String>,
    /// The OAuth client id registered for this app (the secret comes from SN_CLIENT_SECRET).
    #[arg(long, required_unless_present = "emulator")]
    client_id: Option<String>,
    /// The client is public (PKCE, no secret).
    #[arg(long)]
    public_client: bool,
    /// The app's origin as browsers reach it (default http://LISTEN); https makes the cookie Secure.
    #[arg(long)]
    public_url: Option<String>,
    /// The callback URL registered on the instance (default PUBLIC_URL/callback).
    #[arg(long)]
    redirect_uri: Option<String>,
    /// Token store: sqlite:DIR, postgres://… or redis://… (default: sqlite in ./web-login-store).
    #[arg(long, default_value = "sqlite:web-login-store")]
    store: String,
    /// The sealing key file for the postgres and redis stores.
    #[arg(long, default_value = "web-login-store.key")]
    key_file: PathBuf,
    #[command(
        flatten,
        next_help_heading = "Network (company CA, client certificate, proxy)"
    )]
    network: NetworkArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let redirect_uri = args
        .redirect_uri
        .clone()
        .unwrap_or_else(|| format!("{}/callback", public_url.trim_end_matches('/')));
    let mut emulator: Option<EmulatorHandle> = None;
    let (instance, oauth_client) = if args.emulator {
        let started = Emulator::builder()
            .client(ClientRegistration::confidential(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                vec![redirect_uri.clone()],
            ))
            .start()
            .await?;
        let instance = started.base_url().to_owned();
        emulator = Some(started);
        let client = OAuthClient::confidential(
            ClientId::new(DEFAULT_CLIENT_ID)?,
            ClientSecret::new(DEFAULT_CLIENT_SECRET)?,
        );
        (instance, client)
    } else {
        let client_id = ClientId::new(args.client_id.clone().unwrap_or_default())?;
        let client = if args.public_client {
            OAuthClient::public(client_id)
        } else {
            let secret = std::env::var("SN_CLIENT_SECRET")
                .context("set SN_CLIENT_SECRET (or pass --public-client)")?;
            OAuthClient::confidential(client_id, ClientSecret::new(secret)?)
        };
        (args.instance.clone().unwrap_or_default(), client)
    };
    let store = open_store(&args.store, &args.key_file).await?;
    let app = App::new(AppConfig {
        instance: InstanceUrl::new(&instance)?,
        oauth_client,
        redirect_uri: RedirectUri::new(redirect_uri.clone())?,
        store: Arc::clone(&store),
        public_url: public_url.clone(),
        network: args.network.transport_config()?,
        sessions: SessionLimits::default(),
    })
    .await?;
    tracing::info!(%public_url, %instance, %redirect_uri, "web-login listening");
    if emulator.is_some() {
        tracing::info!("open {public_url} and log in on the emulator as admin / admin");
    }
    app.serve(listener).await?;
    drop(emulator);
    Ok(())
}
