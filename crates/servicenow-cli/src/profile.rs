//! Profiles: the instance, client id and redirect URI `sn login` saves, in a TOML file under the
//! user's config directory. Secrets never go into this file.

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    failure::{CliError, CliResult},
    network::NetworkSettings,
};

/// The redirect URI `sn login` uses unless told otherwise (RFC 8252 loopback redirect).
pub(crate) const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";

/// The config file: named profiles.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ConfigFile {
    /// Profiles by name (`default` unless `--profile` says otherwise).
    #[serde(default)]
    pub(crate) profiles: BTreeMap<String, Profile>,
}

/// One profile: where to log in and with which OAuth client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Profile {
    /// The instance URL, e.g. `https://dev12345.service-now.com`.
    pub(crate) instance: String,
    /// The OAuth client id.
    pub(crate) client_id: String,
    /// The registered loopback redirect URI.
    #[serde(default = "default_redirect_uri")]
    pub(crate) redirect_uri: String,
    /// Whether the client is public (PKCE, no secret).
    #[serde(default)]
    pub(crate) public_client: bool,
    /// Trust, client certificate and proxy (`[profiles.NAME.network]`); flags override them.
    #[serde(default, skip_serializing_if = "NetworkSettings::is_empty")]
    pub(crate) network: NetworkSettings,
    /// How the profile obtains tokens (the browser login unless saved otherwise).
    #[serde(default)]
    pub(crate) grant: Grant,
}

/// The grant a profile obtains its tokens with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Grant {
    /// `sn login`: the browser, authorization code + PKCE, then refresh tokens (also a refresh
    /// token imported with `--refresh-token-stdin`).
    #[default]
    AuthorizationCode,
    /// `sn login --client-credentials`: the client acts as itself, no browser.
    ClientCredentials,
    /// `sn login --jwt --key FILE --subject USER`: signed assertions, no browser, no secret
    /// beyond the client's.
    Jwt {
        /// The PEM private key (its path only; the key itself is read when needed).
        key_file: PathBuf,
        /// The user the assertions are for (`sub`).
        subject: String,
        /// The `kid` header, the instance's JWT verifier map's Kid.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
    },
}

fn default_redirect_uri() -> String {
    DEFAULT_REDIRECT_URI.to_owned()
}

/// Where the config file is: `--config`/`SN_CONFIG`, else `config.toml` in the user's config
/// directory.
pub(crate) fn config_path(given: Option<&Path>) -> CliResult<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    directories::ProjectDirs::from("", "", "servicenow-rs")
        .map(|dirs| dirs.config_dir().join("config.toml"))
        .ok_or_else(|| {
            CliError::local(
                "no home directory to keep the config file in",
                Some("pass --config FILE or set SN_CONFIG".to_owned()),
            )
        })
}

impl ConfigFile {
    /// Reads the file; a missing file is an empty config.
    pub(crate) fn load(path: &Path) -> CliResult<Self> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(error) => {
                return Err(CliError::local(
                    format!("cannot read the config file {}: {error}", path.display()),
                    None,
                ));
            }
        };
        toml::from_str(&text).map_err(|error| {
            CliError::local(
                format!("the config file {} is not valid: {error}", path.display()),
                Some("fix it by hand, or delete it and run `sn login` again".to_owned()),
            )
        })
    }

    /// Writes the file atomically (a temporary file renamed over it), creating its directory.
    pub(crate) fn save(&self, path: &Path) -> CliResult<()> {
        let failed = |error: &dyn std::fmt::Display| {
            CliError::local(
                format!("cannot write the config file {}: {error}", path.display()),
                Some("pass --config FILE to keep it elsewhere".to_owned()),
            )
        };
        let text = toml::to_string_pretty(self).map_err(|error| failed(&error))?;
        let directory = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(directory).map_err(|error| failed(&error))?;
        let mut temporary =
            tempfile::NamedTempFile::new_in(directory).map_err(|error| failed(&error))?;
        temporary
            .write_all(text.as_bytes())
            .and_then(|()| temporary.as_file().sync_all())
            .map_err(|error| failed(&error))?;
        temporary
            .persist(path)
            .map_err(|error| failed(&error.error))?;
        Ok(())
    }

    /// The profile `name`, or a clear error saying how to create it.
    pub(crate) fn profile(&self, name: &str) -> CliResult<&Profile> {
        self.profiles.get(name).ok_or_else(|| {
            CliError::authentication(
                format!("there is no profile named {name:?} yet"),
                Some(format!(
                    "run `sn login --profile {name} --instance URL --client-id ID` first"
                )),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_profile_reads_back_the_same() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("nested").join("config.toml");
        let mut config = ConfigFile::load(&path).unwrap();
        assert!(
            config.profiles.is_empty(),
            "a missing file is an empty config"
        );
        let profile = Profile {
            instance: "https://dev12345.service-now.com".to_owned(),
            client_id: "abc".to_owned(),
            redirect_uri: DEFAULT_REDIRECT_URI.to_owned(),
            public_client: true,
            network: NetworkSettings {
                ca_file: Some("/etc/corp/ca.pem".into()),
                ..NetworkSettings::default()
            },
            grant: Grant::Jwt {
                key_file: PathBuf::from("/keys/sn.pem"),
                subject: "svc.export".to_owned(),
                key_id: Some("k1".to_owned()),
            },
        };
        config.profiles.insert("dev".to_owned(), profile.clone());
        config.save(&path).unwrap();
        let read = ConfigFile::load(&path).unwrap();
        assert_eq!(read.profile("dev").unwrap(), &profile);
        assert!(matches!(
            read.profile("prod"),
            Err(CliError::Authentication { .. })
        ));
    }

    #[test]
    fn a_profile_without_redirect_uri_gets_the_default() {
        let config: ConfigFile = toml::from_str(
            "[profiles.default]\ninstance = \"https://a.example\"\nclient_id = \"c\"\n",
        )
        .unwrap();
        assert_eq!(
            config.profile("default").unwrap().redirect_uri,
            DEFAULT_REDIRECT_URI
        );
    }
}
