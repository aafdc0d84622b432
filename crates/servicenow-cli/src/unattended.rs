//! Profiles that sign in without a browser: `sn login --client-credentials`, `sn login --jwt
//! --key FILE --subject USER` and `sn login --refresh-token-stdin`; the handle each grant gives
//! later commands; and what `sn status` says about the grant. Secrets and keys come from the
//! environment, a file or the encrypted store, never from argv.

use std::{
    io::{IsTerminal as _, Read as _},
    path::Path,
    sync::Arc,
    time::Duration,
};

use servicenow::{
    Client, Clock as _, SystemClock,
    auth::{Timestamp, Timing, TokenSet},
    oauth::{ClientSecret, OAuthClient, PemSigner, RefreshToken},
};

use crate::{
    cli::{GlobalArgs, LoginArgs},
    failure::{CliError, CliResult},
    output::{describe_time, say},
    profile::{ConfigFile, Grant, config_path},
    session::Session,
};

/// The environment variable a JWT signing key (PEM text) is read from, before the profile's key
/// file.
pub(crate) const JWT_KEY_VARIABLE: &str = "SN_JWT_KEY";

/// Whether `sn login` was asked for a grant without a browser.
pub(crate) fn wanted(args: &LoginArgs) -> bool {
    args.client_credentials || args.jwt || args.refresh_token_stdin
}

/// `sn login --client-credentials | --jwt … | --refresh-token-stdin`: saves the profile, obtains
/// the first token at once (so a missing setup step fails here, with its error), keeps the
/// client secret encrypted, and says what was granted.
pub(crate) async fn login(global: &GlobalArgs, args: &LoginArgs) -> CliResult<()> {
    let path = config_path(global.config.as_deref())?;
    let mut config = ConfigFile::load(&path)?;
    let existing = config.profiles.get(&global.profile).cloned();
    let mut profile =
        crate::auth_commands::profile_for_login(&global.profile, existing.as_ref(), args)?;
    profile.grant = grant_of(args)?;
    let session = Session::open(global, profile.clone()).await?;
    let secret = login_secret(&session, args)?;
    let oauth_client = match &secret {
        Some(secret) => OAuthClient::confidential(session.client_id.clone(), secret.clone()),
        None => OAuthClient::public(session.client_id.clone()),
    };
    let client = if args.refresh_token_stdin {
        let refresh_token = refresh_token_from_stdin()?;
        let client = session.client(oauth_client).await?;
        client
            .import_refresh_token(refresh_token, None)
            .await
            .map_err(CliError::from_client)?;
        client
    } else {
        let client = handle(&session, oauth_client).await?;
        client
            .token_manager()
            .bearer()
            .await
            .map_err(CliError::from_client)?;
        client
    };
    if let Some(secret) = &secret {
        session.keep_secret(secret, args.remember_secret).await?;
    }
    config
        .profiles
        .insert(global.profile.clone(), profile.clone());
    config.save(&path)?;
    let token_set = client
        .stored_token_set()
        .await
        .map_err(CliError::from_client)?;
    let now = SystemClock.now();
    let (expiry, scope) = match &token_set {
        Some(set) => (
            describe_time(set.access_token_expires_at(), now),
            set.scope()
                .map(|scope| scope.to_space_separated())
                .unwrap_or_else(|| "not stated".to_owned()),
        ),
        None => ("unknown".to_owned(), "not stated".to_owned()),
    };
    say(&format!(
        "Signed in to {} with {} (profile {}). The access token is valid until {expiry}; \
         granted scope: {scope}.",
        session.instance.origin(),
        describe_grant(&profile.grant),
        session.profile_name,
    ));
    say(&format!(
        "Tokens are kept encrypted in {}; {}",
        session.store_dir.display(),
        match profile.grant {
            Grant::AuthorizationCode => "they are refreshed when needed.",
            _ => "a new one is acquired without a browser when needed.",
        }
    ));
    Ok(())
}

fn grant_of(args: &LoginArgs) -> CliResult<Grant> {
    if args.jwt {
        let key_file = args.key.clone().ok_or_else(|| {
            CliError::usage(
                "--jwt needs the private key file: --key FILE",
                Some(
                    "the PEM private key whose certificate the instance's JWT verifier map holds"
                        .to_owned(),
                ),
            )
        })?;
        let subject = args.subject.clone().ok_or_else(|| {
            CliError::usage(
                "--jwt needs the user to act for: --subject USER",
                Some(
                    "the value of the JWT endpoint's User Field (a user name or an email address)"
                        .to_owned(),
                ),
            )
        })?;
        let key_file = std::path::absolute(&key_file).unwrap_or(key_file);
        return Ok(Grant::Jwt {
            key_file,
            subject,
            key_id: args.kid.clone(),
        });
    }
    if args.client_credentials {
        return Ok(Grant::ClientCredentials);
    }
    Ok(Grant::AuthorizationCode)
}

/// The client secret for an unattended login: none for a public client, else SN_CLIENT_SECRET,
/// else `--client-secret-file`, else a prompt when there is a terminal.
fn login_secret(session: &Session, args: &LoginArgs) -> CliResult<Option<ClientSecret>> {
    if session.profile.public_client {
        if args.client_credentials {
            return Err(CliError::usage(
                "the client credentials grant needs a confidential client",
                Some("drop --public-client and give the client secret".to_owned()),
            ));
        }
        return Ok(None);
    }
    if let Some(file) = &args.client_secret_file {
        let text = read_secret_file(file, "client secret")?;
        return ClientSecret::new(text.trim().to_owned())
            .map(Some)
            .map_err(|error| CliError::usage(format!("the client secret file: {error}"), None));
    }
    // SN_CLIENT_SECRET, then the prompt (refused without a terminal).
    session.login_secret()
}

fn read_secret_file(path: &Path, what: &str) -> CliResult<String> {
    std::fs::read_to_string(path).map_err(|error| {
        CliError::local(
            format!("cannot read the {what} file {}: {error}", path.display()),
            None,
        )
    })
}

/// One refresh token, read from standard input (never a flag: argv ends up in shell history and
/// `ps`).
fn refresh_token_from_stdin() -> CliResult<RefreshToken> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Paste the refresh token and press Enter, then Ctrl-D:");
    }
    let mut text = String::new();
    stdin.read_to_string(&mut text).map_err(|error| {
        CliError::local(
            format!("cannot read the refresh token from stdin: {error}"),
            None,
        )
    })?;
    RefreshToken::new(text.trim().to_owned()).map_err(|error| {
        CliError::usage(
            format!("standard input is not a usable refresh token: {error}"),
            Some(
                "pipe exactly one refresh token, e.g. `sn login --refresh-token-stdin < token.txt`"
                    .to_owned(),
            ),
        )
    })
}

/// The handle of the profile's credential, by its grant.
pub(crate) async fn handle(session: &Session, oauth_client: OAuthClient) -> CliResult<Client> {
    match &session.profile.grant {
        Grant::AuthorizationCode => session.client(oauth_client).await,
        Grant::ClientCredentials => Ok(session.app(oauth_client).await?.service()),
        Grant::Jwt {
            key_file,
            subject,
            key_id,
        } => {
            let signer = signer(key_file, key_id.clone())?;
            session
                .app(oauth_client)
                .await?
                .jwt_bearer(subject, Arc::new(signer))
                .map_err(CliError::from_client)
        }
    }
}

/// The JWT signing key: SN_JWT_KEY (PEM text) when set, else the profile's key file.
fn signer(key_file: &Path, key_id: Option<String>) -> CliResult<PemSigner> {
    let pem = match std::env::var(JWT_KEY_VARIABLE) {
        Ok(pem) if !pem.is_empty() => pem,
        _ => read_secret_file(key_file, "JWT private key")?,
    };
    PemSigner::from_pem(&pem, key_id).map_err(|error| {
        CliError::usage(
            error.to_string(),
            Some(format!(
                "give a PEM private key (RSA of 2048 bits or more, or EC P-256) in {} or {JWT_KEY_VARIABLE}",
                key_file.display()
            )),
        )
    })
}

/// The grant in words.
pub(crate) fn describe_grant(grant: &Grant) -> String {
    match grant {
        Grant::AuthorizationCode => "the authorization code grant (browser login, PKCE)".to_owned(),
        Grant::ClientCredentials => "the client credentials grant".to_owned(),
        Grant::Jwt {
            key_file, subject, ..
        } => format!(
            "the JWT bearer grant as {subject} (key {})",
            key_file.display()
        ),
    }
}

/// `sn status`'s lines about the grant: which one, and when the next refresh or acquisition is
/// due (the machine's proactive point: the refresh skew before expiry, up to its jitter earlier).
pub(crate) fn status_lines(grant: &Grant, token_set: &TokenSet, now: Timestamp) -> Vec<String> {
    let timing = Timing::SERVICENOW;
    let expires_at = token_set.access_token_expires_at();
    let lifetime = expires_at.saturating_duration_since(token_set.obtained_at());
    let skew = timing.refresh_skew.min(lifetime / 2);
    let due = expires_at.saturating_sub(skew);
    let jitter = timing.refresh_jitter.min(lifetime / 4);
    let what = match (grant, token_set.refresh_token()) {
        (Grant::AuthorizationCode, Some(_)) => "refresh",
        (Grant::AuthorizationCode, None) => "login (no refresh token)",
        _ => "acquisition",
    };
    vec![
        format!("grant:     {}", describe_grant(grant)),
        format!(
            "next:      {what} due {}{}",
            describe_time(due, now),
            if jitter > Duration::ZERO {
                format!(" (up to {} s earlier)", jitter.as_secs())
            } else {
                String::new()
            }
        ),
    ]
}
