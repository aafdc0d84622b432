//! A profile made usable: the validated instance and client, the encrypted token store, the client
//! secret (from SN_CLIENT_SECRET, a prompt, or the store), and a `servicenow::Client` built on them.

use std::{io::IsTerminal as _, path::PathBuf, sync::Arc};

use servicenow::{
    Client, Servicenow,
    auth::TokenSet,
    oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri},
    store::{CredentialKey, SecretBytes, TokenStore},
    stores,
};

use crate::{
    cli::GlobalArgs,
    failure::{CliError, CliResult},
    profile::Profile,
};

/// The environment variable the client secret is read from (never a flag: flags end up in shell
/// history and `ps`).
pub(crate) const CLIENT_SECRET_VARIABLE: &str = "SN_CLIENT_SECRET";

/// One profile, validated, with its store open.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) profile_name: String,
    pub(crate) profile: Profile,
    pub(crate) instance: InstanceUrl,
    pub(crate) client_id: ClientId,
    pub(crate) redirect_uri: RedirectUri,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) store_dir: PathBuf,
    /// Trust, client certificate and proxy, from flags, environment and profile.
    pub(crate) network: servicenow::transport::TransportConfig,
}

impl Session {
    /// Validates `profile` and opens the token store (`--store-dir`, else the user's data
    /// directory).
    pub(crate) async fn open(global: &GlobalArgs, profile: Profile) -> CliResult<Self> {
        let instance =
            InstanceUrl::new(&profile.instance).map_err(|error| {
                CliError::usage(
                format!("the instance URL {:?} is not usable: {error}", profile.instance),
                Some(
                    "give the instance's origin, e.g. https://dev12345.service-now.com (http only \
                     for 127.0.0.1)"
                        .to_owned(),
                ),
            )
            })?;
        let client_id = ClientId::new(profile.client_id.clone()).map_err(|error| {
            CliError::usage(format!("the client id is not usable: {error}"), None)
        })?;
        let redirect_uri = RedirectUri::new(profile.redirect_uri.clone()).map_err(|error| {
            CliError::usage(
                format!(
                    "the redirect URI {:?} is not usable: {error}",
                    profile.redirect_uri
                ),
                Some(format!(
                    "use a loopback URI such as {}",
                    crate::profile::DEFAULT_REDIRECT_URI
                )),
            )
        })?;
        let network =
            crate::network::transport_config(&global.network, &profile.network, |name| {
                std::env::var(name).ok()
            })?;
        let store_dir = match &global.store_dir {
            Some(directory) => directory.clone(),
            None => stores::default_directory().map_err(CliError::from_client)?,
        };
        let store = stores::open_sqlite(&store_dir).await.map_err(|error| {
            CliError::local(
                format!(
                    "cannot open the token store in {}: {error}",
                    store_dir.display()
                ),
                Some(
                    "pass --store-dir DIR (or set SN_STORE_DIR) to use another directory"
                        .to_owned(),
                ),
            )
        })?;
        Ok(Self {
            profile_name: global.profile.clone(),
            profile,
            instance,
            client_id,
            redirect_uri,
            store,
            store_dir,
            network,
        })
    }

    /// The subject the profile's tokens are stored under.
    pub(crate) fn subject(&self) -> String {
        format!("sn-cli:{}", self.profile_name)
    }

    fn key(&self, subject: &str) -> CliResult<CredentialKey> {
        CredentialKey::new(self.instance.origin(), self.client_id.as_str(), subject)
            .map_err(|error| CliError::usage(format!("the profile is not usable: {error}"), None))
    }

    fn secret_key(&self) -> CliResult<CredentialKey> {
        self.key(&format!("{}#client-secret", self.subject()))
    }

    /// The client secret for `sn login`: none for a public client, else SN_CLIENT_SECRET, else a
    /// prompt on the terminal.
    pub(crate) fn login_secret(&self) -> CliResult<Option<ClientSecret>> {
        if self.profile.public_client {
            return Ok(None);
        }
        if let Some(secret) = secret_from_environment()? {
            return Ok(Some(secret));
        }
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage(
                "the client secret is needed and there is no terminal to ask for it",
                Some(format!(
                    "set {CLIENT_SECRET_VARIABLE}, or pass --public-client for a client without a secret"
                )),
            ));
        }
        let typed = rpassword::prompt_password(format!(
            "Client secret for {} (not shown): ",
            self.client_id.as_str()
        ))
        .map_err(|error| {
            CliError::local(format!("cannot read the client secret: {error}"), None)
        })?;
        ClientSecret::new(typed.trim().to_owned())
            .map(Some)
            .map_err(|error| {
                CliError::usage(format!("the client secret is not usable: {error}"), None)
            })
    }

    /// The OAuth client for later commands: public, or with the secret from SN_CLIENT_SECRET or
    /// the one `sn login` kept in the encrypted store.
    pub(crate) async fn oauth_client(&self) -> CliResult<OAuthClient> {
        if self.profile.public_client {
            return Ok(OAuthClient::public(self.client_id.clone()));
        }
        if let Some(secret) = secret_from_environment()? {
            return Ok(OAuthClient::confidential(self.client_id.clone(), secret));
        }
        let stored = self
            .store
            .load(&self.secret_key()?)
            .await
            .map_err(|error| CliError::from_client(error.into()))?;
        let Some(stored) = stored else {
            return Err(CliError::authentication(
                "not logged in (no client secret is stored for this profile)",
                Some("run `sn login`".to_owned()),
            ));
        };
        let text = String::from_utf8(stored.value.expose_secret().to_vec()).map_err(|_| {
            CliError::local(
                "the stored client secret cannot be read",
                Some("run `sn login` again".to_owned()),
            )
        })?;
        let secret = ClientSecret::new(text)
            .map_err(|error| CliError::local(format!("the stored client secret: {error}"), None))?;
        Ok(OAuthClient::confidential(self.client_id.clone(), secret))
    }

    /// Keeps the client secret in the encrypted store, so later commands can refresh tokens.
    pub(crate) async fn keep_secret(&self, secret: &ClientSecret) -> CliResult<()> {
        let key = self.secret_key()?;
        let current = self
            .store
            .load(&key)
            .await
            .map_err(|error| CliError::from_client(error.into()))?
            .map(|stored| stored.version);
        let bytes = SecretBytes::new(secret.secret().as_bytes().to_vec());
        self.store
            .save(&key, bytes, current)
            .await
            .map_err(|error| CliError::from_client(error.into()))?;
        Ok(())
    }

    /// Deletes the kept client secret.
    pub(crate) async fn forget_secret(&self) -> CliResult<()> {
        self.store
            .delete(&self.secret_key()?, None)
            .await
            .map_err(|error| CliError::from_client(error.into()))?;
        Ok(())
    }

    /// The integration of this profile: its instance and client, on this session's store.
    pub(crate) async fn app(&self, oauth_client: OAuthClient) -> CliResult<Servicenow> {
        Servicenow::builder(self.instance.clone(), oauth_client)
            .redirect_uri(self.redirect_uri.clone())
            .store(Arc::clone(&self.store))
            .transport_config(self.network.clone())
            .build()
            .await
            .map_err(CliError::from_client)
    }

    /// A client for this profile's user credential, on this session's store.
    pub(crate) async fn client(&self, oauth_client: OAuthClient) -> CliResult<Client> {
        let app = self.app(oauth_client).await?;
        app.user(&self.subject()).map_err(CliError::from_client)
    }

    /// The token set stored for this profile, if any (for `sn status`; reading it needs no
    /// client secret).
    pub(crate) async fn stored_token_set(&self) -> CliResult<Option<TokenSet>> {
        let app = self
            .app(OAuthClient::public(self.client_id.clone()))
            .await?;
        let login = app.login().map_err(CliError::from_client)?;
        login
            .stored_token_set(&self.subject())
            .await
            .map_err(CliError::from_client)
    }
}

fn secret_from_environment() -> CliResult<Option<ClientSecret>> {
    match std::env::var(CLIENT_SECRET_VARIABLE) {
        Ok(value) if !value.is_empty() => ClientSecret::new(value).map(Some).map_err(|error| {
            CliError::usage(
                format!("{CLIENT_SECRET_VARIABLE} is not a usable client secret: {error}"),
                None,
            )
        }),
        _ => Ok(None),
    }
}
