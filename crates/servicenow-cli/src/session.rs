//! A profile made usable: the validated instance and client, the encrypted token store (its key
//! from `keys`), the client secret (from SN_CLIENT_SECRET, the OS keyring when the user asked
//! `sn login --remember-secret`, or a prompt), and a `servicenow::Client` built on them.

use std::{io::IsTerminal as _, path::PathBuf, sync::Arc};

use servicenow::{
    Client, Servicenow,
    auth::TokenSet,
    oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri},
    store::{CredentialKey, TokenStore},
    stores::{self, Store},
};

use crate::{
    cli::GlobalArgs,
    failure::{CliError, CliResult},
    keys::{self, KeptSecret},
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
    /// The store with its key source, for `sn store`.
    pub(crate) opened: Store,
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
        let source = keys::key_source(global.key_source.as_ref(), &store_dir);
        let opened = keys::open_store(&store_dir, source).await?;
        let store = opened.token_store();
        Ok(Self {
            profile_name: global.profile.clone(),
            profile,
            instance,
            client_id,
            redirect_uri,
            store,
            opened,
            store_dir,
            network,
        })
    }

    /// The subject the profile's tokens are stored under.
    pub(crate) fn subject(&self) -> String {
        format!("sn-cli:{}", self.profile_name)
    }

    /// The store record where builds before the OS keyring kept the client secret: removed at
    /// login and logout, so no secret stays at rest from then on.
    fn legacy_secret_key(&self) -> CliResult<CredentialKey> {
        CredentialKey::new(
            self.instance.origin(),
            self.client_id.as_str(),
            format!("{}#client-secret", self.subject()),
        )
        .map_err(|error| CliError::usage(format!("the profile is not usable: {error}"), None))
    }

    /// The OS keyring entry of this profile's client secret (used only when asked for).
    fn kept_secret(&self) -> KeptSecret {
        KeptSecret::new(
            "client-secret",
            &self.profile_name,
            self.instance.origin(),
            self.client_id.as_str(),
        )
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

    /// The OAuth client for later commands: public, or with the secret from SN_CLIENT_SECRET,
    /// else the OS keyring (when `sn login --remember-secret` kept it there), else a prompt.
    pub(crate) async fn oauth_client(&self) -> CliResult<OAuthClient> {
        if self.profile.public_client {
            return Ok(OAuthClient::public(self.client_id.clone()));
        }
        if let Some(secret) = secret_from_environment()? {
            return Ok(OAuthClient::confidential(self.client_id.clone(), secret));
        }
        if let Some(kept) = self.kept_secret().read().await {
            let secret = ClientSecret::new(kept.as_str().to_owned()).map_err(|error| {
                CliError::local(format!("the kept client secret: {error}"), None)
            })?;
            return Ok(OAuthClient::confidential(self.client_id.clone(), secret));
        }
        if std::io::stdin().is_terminal() {
            if let Some(secret) = self.login_secret()? {
                return Ok(OAuthClient::confidential(self.client_id.clone(), secret));
            }
        }
        Err(CliError::authentication(
            "the client secret is needed and is kept nowhere (sn does not store it unless asked)",
            Some(format!(
                "set {CLIENT_SECRET_VARIABLE}, or run `sn login --remember-secret` to keep it in \
                 the OS keyring"
            )),
        ))
    }

    /// After a login: keeps the client secret in the OS keyring if the user asked for it, and
    /// removes any copy an older build kept in the store.
    pub(crate) async fn keep_secret(&self, secret: &ClientSecret, remember: bool) -> CliResult<()> {
        self.forget_legacy_secret().await?;
        if remember {
            self.kept_secret().keep(secret.secret()).await?;
        }
        Ok(())
    }

    /// Deletes the kept client secret (the keyring entry and any store copy of older builds).
    pub(crate) async fn forget_secret(&self) -> CliResult<()> {
        self.kept_secret().forget().await;
        self.forget_legacy_secret().await
    }

    async fn forget_legacy_secret(&self) -> CliResult<()> {
        self.store
            .delete(&self.legacy_secret_key()?, None)
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
