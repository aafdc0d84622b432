//! `sn login`, `sn logout` and `sn status`: the authorization code flow on a loopback redirect,
//! revocation, and what the store holds for a profile (never the token unless asked).

use std::{io::Write as _, time::Duration};

use servicenow::{
    Client, Clock as _, LoginError, SystemClock,
    auth::{Revocation, RevocationOutcome, Timestamp},
    oauth::OAuthClient,
};

use crate::{
    cli::{GlobalArgs, LoginArgs, StatusArgs},
    failure::{CliError, CliResult},
    loopback::Loopback,
    output::{describe_time, say},
    profile::{ConfigFile, DEFAULT_REDIRECT_URI, Grant, Profile, config_path},
    session::Session,
    unattended,
};

/// `sn login`.
pub(crate) async fn login(global: &GlobalArgs, args: &LoginArgs) -> CliResult<()> {
    if unattended::wanted(args) {
        return unattended::login(global, args).await;
    }
    let path = config_path(global.config.as_deref())?;
    let mut config = ConfigFile::load(&path)?;
    let existing = config.profiles.get(&global.profile).cloned();
    let profile = profile_for_login(&global.profile, existing.as_ref(), args)?;
    let session = Session::open(global, profile.clone()).await?;
    let secret = session.login_secret()?;
    let oauth_client = match &secret {
        Some(secret) => OAuthClient::confidential(session.client_id.clone(), secret.clone()),
        None => OAuthClient::public(session.client_id.clone()),
    };
    let login = session.app(oauth_client).await?.login()?;
    let mut loopback = Loopback::bind(&profile.redirect_uri).await?;
    let subject = session.subject();
    let authorization_url = login.begin(&subject).await?;
    if args.no_browser {
        // The URL alone on stdout, so that a script (or a person) can take it as it is.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{authorization_url}");
        let _ = stdout.flush();
        eprintln!(
            "Open the URL above in a browser and log in to {}.",
            profile.instance
        );
    } else {
        eprintln!("Opening your browser to log in to {} …", profile.instance);
        if webbrowser::open(&authorization_url).is_err() {
            eprintln!("No browser could be opened; open this URL yourself:");
            say(&authorization_url);
        }
    }
    eprintln!(
        "Waiting for the browser to come back to {} (up to {} s) …",
        profile.redirect_uri, args.timeout
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let token_set = loop {
        let Ok(callback) = tokio::time::timeout_at(deadline, loopback.next_callback()).await else {
            return Err(CliError::authentication(
                format!(
                    "no login came back to {} within {} s",
                    profile.redirect_uri, args.timeout
                ),
                Some(format!(
                    "finish the login in the browser, or pass --timeout SECS; check that {} is \
                     registered exactly on the instance's application registry (a real instance \
                     silently falls back to the first registered redirect URL)",
                    profile.redirect_uri
                )),
            ));
        };
        let callback = callback?;
        let query = callback.query.clone();
        match login.complete(&subject, &query).await {
            Ok(token_set) => {
                callback
                    .respond(true, &format!("sn is logged in to {}.", profile.instance))
                    .await;
                break token_set;
            }
            // Any local process, or an <img> on any web page, can send a request to the
            // listener: one that does not carry this login's state must not end the login.
            Err(error) if is_foreign_callback(&error) => {
                callback
                    .respond(
                        false,
                        "This request does not belong to the login sn is waiting for (its state \
                         is unknown), so it was ignored.",
                    )
                    .await;
                eprintln!(
                    "Ignored a request to {} that does not carry this login's state (forged or \
                     stale); still waiting …",
                    profile.redirect_uri
                );
            }
            Err(error) => {
                let error = CliError::from_client(error);
                callback.respond(false, &error.to_string()).await;
                return Err(error);
            }
        }
    };
    if let Some(secret) = &secret {
        session.keep_secret(secret, args.remember_secret).await?;
    }
    config.profiles.insert(global.profile.clone(), profile);
    config.save(&path)?;
    let now = SystemClock.now();
    say(&format!(
        "Logged in to {} (profile {}). The access token is valid until {}; scope {}.",
        session.instance.origin(),
        session.profile_name,
        describe_time(token_set.access_token_expires_at(), now),
        token_set
            .scope()
            .map(|scope| scope.to_space_separated())
            .unwrap_or_else(|| "not stated".to_owned())
    ));
    say(&format!(
        "Tokens are kept encrypted in {} (sealing key in {}) and refreshed when needed.",
        session.store_dir.display(),
        session.opened.key_source()
    ));
    if secret.is_some() {
        say(if args.remember_secret {
            "The client secret is kept in the OS keyring (`sn logout` removes it)."
        } else {
            "The client secret was not kept: set SN_CLIENT_SECRET for later commands, or log in \
             with --remember-secret to keep it in the OS keyring."
        });
    }
    Ok(())
}

/// Whether a callback is not this login's: no state, an unparseable query, or a state this login
/// did not issue (nothing was consumed, the real callback can still come).
fn is_foreign_callback(error: &servicenow::Error) -> bool {
    matches!(
        error,
        servicenow::Error::Login(login)
            if matches!(
                login.as_ref(),
                LoginError::UnknownState | LoginError::MalformedCallback(_)
            )
    )
}

pub(crate) fn profile_for_login(
    name: &str,
    existing: Option<&Profile>,
    args: &LoginArgs,
) -> CliResult<Profile> {
    let instance = args
        .instance
        .clone()
        .or_else(|| existing.map(|profile| profile.instance.clone()))
        .ok_or_else(|| {
            CliError::usage(
                format!("profile {name:?} has no instance yet"),
                Some("pass --instance https://YOUR-INSTANCE.service-now.com".to_owned()),
            )
        })?;
    let client_id = args
        .client_id
        .clone()
        .or_else(|| existing.map(|profile| profile.client_id.clone()))
        .ok_or_else(|| {
            CliError::usage(
                format!("profile {name:?} has no client id yet"),
                Some(
                    "pass --client-id ID from System OAuth > Application Registry (see \
                     docs/servicenow-setup.md)"
                        .to_owned(),
                ),
            )
        })?;
    let redirect_uri = args
        .redirect_uri
        .clone()
        .or_else(|| existing.map(|profile| profile.redirect_uri.clone()))
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned());
    let public_client = args.public_client
        || (args.client_id.is_none() && existing.is_some_and(|profile| profile.public_client));
    Ok(Profile {
        instance: instance.trim_end_matches('/').to_owned(),
        client_id,
        redirect_uri,
        public_client,
        grant: Grant::AuthorizationCode,
        // Kept from the file: the network settings are edited by hand (flags override them).
        network: existing
            .map(|profile| profile.network.clone())
            .unwrap_or_default(),
    })
}

/// Opens the session of the current profile, as saved by `sn login`.
pub(crate) async fn open_profile(global: &GlobalArgs) -> CliResult<Session> {
    let path = config_path(global.config.as_deref())?;
    let config = ConfigFile::load(&path)?;
    let profile = config.profile(&global.profile)?.clone();
    Session::open(global, profile).await
}

/// A client of the current profile, ready for the Table API.
pub(crate) async fn profile_client(global: &GlobalArgs) -> CliResult<Client> {
    let session = open_profile(global).await?;
    let oauth_client = session.oauth_client().await?;
    unattended::handle(&session, oauth_client).await
}

/// `sn logout`.
pub(crate) async fn logout(global: &GlobalArgs) -> CliResult<()> {
    let session = open_profile(global).await?;
    if session.stored_token_set().await?.is_none() {
        session.forget_secret().await?;
        say(&format!(
            "Nothing to log out: no tokens are stored for profile {}.",
            session.profile_name
        ));
        return Ok(());
    }
    let oauth_client = match session.oauth_client().await {
        Ok(client) => client,
        // Without the secret the instance will not confirm revocation, but the tokens are still
        // deleted here.
        Err(_) => OAuthClient::public(session.client_id.clone()),
    };
    let login = session.app(oauth_client).await?.login()?;
    let outcome = login.logout(&session.subject()).await?;
    session.forget_secret().await?;
    say(&format!(
        "Logged out of {} (profile {}): {}; the tokens were deleted from {}.",
        session.instance.origin(),
        session.profile_name,
        describe_revocation(outcome.as_ref()),
        session.store_dir.display()
    ));
    Ok(())
}

/// How a logout's revocation went, in words. A 2xx answer is told as "the instance accepted the
/// revocation", never as "revoked": it does not prove a token dead (see
/// [`Revocation::Accepted`]); only a later request refused with the token does (`sn demo` step 10).
pub(crate) fn describe_revocation(outcome: Option<&RevocationOutcome>) -> String {
    let Some(outcome) = outcome else {
        return "there was nothing to revoke".to_owned();
    };
    let word = |revocation: Revocation| match revocation {
        Revocation::Accepted => "the instance accepted the revocation",
        Revocation::NoToken => "there was none",
        _ => "the instance did not accept the revocation (the token stays valid until it expires)",
    };
    if outcome.refresh_token == Revocation::Accepted && outcome.access_token == Revocation::Accepted
    {
        return "the instance accepted the revocation of the refresh token and of the access token"
            .to_owned();
    }
    format!(
        "refresh token: {}; access token: {}",
        word(outcome.refresh_token),
        word(outcome.access_token)
    )
}

/// `sn status`.
pub(crate) async fn status(global: &GlobalArgs, args: &StatusArgs) -> CliResult<()> {
    let session = open_profile(global).await?;
    let now = SystemClock.now();
    let mut lines = vec![
        format!("profile:   {}", session.profile_name),
        format!("instance:  {}", session.instance.origin()),
        format!(
            "client:    {} ({})",
            session.client_id.as_str(),
            if session.profile.public_client {
                "public, PKCE"
            } else {
                "confidential"
            }
        ),
        format!("store:     {} (encrypted)", session.store_dir.display()),
    ];
    let stored = match session.profile.grant {
        Grant::AuthorizationCode => session.stored_token_set().await?,
        // Reading the store needs no secret: the key depends on the client id only.
        _ => unattended::handle(&session, OAuthClient::public(session.client_id.clone()))
            .await?
            .stored_token_set()
            .await
            .map_err(CliError::from_client)?,
    };
    let Some(token_set) = stored else {
        lines.push("login:     not logged in".to_owned());
        say(&lines.join("\n"));
        return Err(CliError::authentication(
            format!("profile {} is not logged in", session.profile_name),
            Some("run `sn login`".to_owned()),
        ));
    };
    lines.push(match &session.profile.grant {
        Grant::AuthorizationCode => format!(
            "user:      the account that pressed Allow (stored as {})",
            session.subject()
        ),
        Grant::ClientCredentials => {
            "user:      the registry entry's OAuth Application User".to_owned()
        }
        Grant::Jwt { subject, .. } => format!("user:      {subject} (the JWT's sub)"),
    });
    lines.extend(unattended::status_lines(
        &session.profile.grant,
        &token_set,
        now,
    ));
    lines.push(format!(
        "access:    {}",
        access_state(token_set.access_token_expires_at(), now)
    ));
    let refresh = match token_set.refresh_token() {
        Some(record) => match record.expires_at() {
            Some(expires_at) => format!("expires {}", describe_time(expires_at, now)),
            None => "present, no expiry stated".to_owned(),
        },
        None if session.profile.grant != Grant::AuthorizationCode => {
            "none (this grant issues none; a new token is acquired instead)".to_owned()
        }
        None => "none (log in again when the access token expires)".to_owned(),
    };
    lines.push(format!("refresh:   {refresh}"));
    lines.push(format!(
        "scope:     {}",
        token_set
            .scope()
            .map(|scope| scope.to_space_separated())
            .unwrap_or_else(|| "not stated".to_owned())
    ));
    if args.show_token {
        eprintln!("{SHOW_TOKEN_WARNING}");
        lines.push(format!("token:     {}", token_set.access_token().secret()));
    }
    say(&lines.join("\n"));
    Ok(())
}

/// Said on stderr whenever `sn status --show-token` prints the token.
pub(crate) const SHOW_TOKEN_WARNING: &str = "warning: the access token below grants your access \
     to the instance until it expires: keep it out of shell history, logs, screen shares and \
     tickets; `sn logout` revokes it";

fn access_state(expires_at: Timestamp, now: Timestamp) -> String {
    if expires_at <= now {
        format!(
            "expired {} (refreshed on next use)",
            describe_time(expires_at, now)
        )
    } else {
        format!("valid until {}", describe_time(expires_at, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2xx_revocation_is_told_as_accepted_never_as_revoked() {
        let outcome = |refresh_token, access_token| RevocationOutcome {
            refresh_token,
            access_token,
        };
        for (given, told) in [
            (
                Some(outcome(Revocation::Accepted, Revocation::Accepted)),
                "the instance accepted the revocation of the refresh token and of the access token",
            ),
            (
                Some(outcome(Revocation::NoToken, Revocation::Accepted)),
                "refresh token: there was none; access token: the instance accepted the revocation",
            ),
            (
                Some(outcome(Revocation::NotConfirmed, Revocation::Accepted)),
                "refresh token: the instance did not accept the revocation (the token stays valid \
                 until it expires); access token: the instance accepted the revocation",
            ),
            (None, "there was nothing to revoke"),
        ] {
            let said = describe_revocation(given.as_ref());
            assert_eq!(said, told);
            assert!(!said.contains("revoked"), "{said}");
            assert!(!said.contains("confirmed"), "{said}");
        }
    }
}
