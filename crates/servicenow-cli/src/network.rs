//! The network `sn` lives in: trust (a CA file, the roots), a client certificate, the proxy —
//! from flags, the usual environment variables and the profile, in that order of precedence,
//! turned into the library's `TransportConfig`.

use std::{fmt, path::PathBuf};

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use servicenow::transport::{ClientIdentity, Proxy, ProxyUrl, Roots, TransportConfig};

use crate::failure::{CliError, CliResult};

/// The network flags every command understands (each with its environment variable).
#[derive(Debug, Default, Args)]
pub(crate) struct NetworkArgs {
    /// A PEM file of CA certificates to trust besides the roots: your company's TLS-inspection
    /// CA, or a private instance's CA. Default: the profile's, else SSL_CERT_FILE's.
    #[arg(long, global = true, env = "SN_CA_FILE", value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Which roots to trust besides the CA file: the operating system's trust store (default),
    /// the bundled web PKI roots, or only the CA file.
    #[arg(long, global = true, env = "SN_ROOTS", value_enum)]
    pub(crate) roots: Option<RootsArg>,
    /// A client certificate (PEM) for instances that require mutual TLS; needs --client-key.
    #[arg(long, global = true, env = "SN_CLIENT_CERT", value_name = "FILE")]
    pub(crate) client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, global = true, env = "SN_CLIENT_KEY", value_name = "FILE")]
    pub(crate) client_key: Option<PathBuf>,
    /// The proxy for HTTPS: `system` (default: HTTPS_PROXY, else ALL_PROXY, bypassed for
    /// NO_PROXY), `none`, or http://host:port. Put credentials (http://user:password@host:port)
    /// in SN_PROXY or HTTPS_PROXY, not on the command line. Loopback never uses a proxy.
    #[arg(long, global = true, env = "SN_PROXY", value_name = "system|none|URL")]
    pub(crate) proxy: Option<ProxySetting>,
    /// Hosts that bypass an explicit --proxy (NO_PROXY syntax: example.com, .corp, 10.0.0.0/8,
    /// *). Default: the profile's, else NO_PROXY/no_proxy.
    #[arg(long, global = true, value_name = "HOSTS")]
    pub(crate) no_proxy: Option<String>,
}

/// `--roots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RootsArg {
    /// The operating system's trust store.
    System,
    /// The Mozilla roots bundled into `sn`.
    Webpki,
    /// Only the CA file.
    CaFileOnly,
}

impl From<RootsArg> for Roots {
    fn from(roots: RootsArg) -> Self {
        match roots {
            RootsArg::System => Self::System,
            RootsArg::Webpki => Self::WebPki,
            RootsArg::CaFileOnly => Self::CaFileOnly,
        }
    }
}

/// A proxy setting as typed: `system`, `none` or a URL that may hold a password, so its `Debug`
/// shows the kind only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct ProxySetting(String);

impl fmt::Debug for ProxySetting {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_str() {
            "system" | "none" => write!(formatter, "ProxySetting({})", self.0),
            _ => formatter.write_str("ProxySetting(url, [redacted])"),
        }
    }
}

impl std::str::FromStr for ProxySetting {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.trim().to_owned()))
    }
}

/// The network settings a profile may hold (`[profiles.NAME.network]` in the config file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct NetworkSettings {
    /// As `--ca-file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca_file: Option<PathBuf>,
    /// As `--roots`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) roots: Option<RootsArg>,
    /// As `--client-cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_cert: Option<PathBuf>,
    /// As `--client-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_key: Option<PathBuf>,
    /// As `--proxy` (better without a password: the file is not a secret store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) proxy: Option<ProxySetting>,
    /// As `--no-proxy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) no_proxy: Option<String>,
}

impl NetworkSettings {
    /// Whether nothing is set (the profile then writes no `network` table).
    pub(crate) fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The transport configuration of `flags` (flags and their variables) over `profile`, reading
/// SSL_CERT_FILE and NO_PROXY/no_proxy through `env`.
pub(crate) fn transport_config(
    flags: &NetworkArgs,
    profile: &NetworkSettings,
    env: impl Fn(&str) -> Option<String>,
) -> CliResult<TransportConfig> {
    let non_empty = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let ca_file = flags
        .ca_file
        .clone()
        .or_else(|| profile.ca_file.clone())
        .or_else(|| non_empty("SSL_CERT_FILE").map(PathBuf::from));
    let roots = flags
        .roots
        .or(profile.roots)
        .map_or(Roots::System, Roots::from);
    let cert = flags
        .client_cert
        .clone()
        .or_else(|| profile.client_cert.clone());
    let key = flags
        .client_key
        .clone()
        .or_else(|| profile.client_key.clone());
    let client_identity = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientIdentity::from_pem_files(cert, key)),
        (None, None) => None,
        (cert, _) => {
            let (given, missing) = if cert.is_some() {
                (
                    "--client-cert (SN_CLIENT_CERT)",
                    "--client-key (SN_CLIENT_KEY)",
                )
            } else {
                (
                    "--client-key (SN_CLIENT_KEY)",
                    "--client-cert (SN_CLIENT_CERT)",
                )
            };
            return Err(CliError::usage(
                format!("{given} is set but {missing} is not"),
                Some("a client certificate needs both its certificate and its key".to_owned()),
            ));
        }
    };
    let proxy = match flags.proxy.as_ref().or(profile.proxy.as_ref()) {
        None => Proxy::System,
        Some(setting) => match setting.0.as_str() {
            "" | "system" => Proxy::System,
            "none" => Proxy::None,
            url => {
                let no_proxy = flags
                    .no_proxy
                    .clone()
                    .or_else(|| profile.no_proxy.clone())
                    .or_else(|| non_empty("NO_PROXY"))
                    .or_else(|| non_empty("no_proxy"))
                    .unwrap_or_default();
                let url = ProxyUrl::new(url).map_err(|error| {
                    CliError::usage(
                        format!("the proxy setting is not usable: {error}"),
                        Some("give --proxy system, none or http://host:port".to_owned()),
                    )
                })?;
                Proxy::Url(url.with_no_proxy(no_proxy))
            }
        },
    };
    Ok(TransportConfig {
        roots,
        ca_file,
        client_identity,
        proxy,
        ..TransportConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(
        flags: &NetworkArgs,
        profile: &NetworkSettings,
        env: &[(&str, &str)],
    ) -> CliResult<TransportConfig> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        transport_config(flags, profile, |name| env.get(name).cloned())
    }

    #[test]
    fn nothing_set_means_the_os_trust_store_and_the_environment_proxy() {
        let config = resolve(&NetworkArgs::default(), &NetworkSettings::default(), &[]).unwrap();
        assert_eq!(config.roots, Roots::System);
        assert_eq!(config.ca_file, None);
        assert_eq!(config.client_identity, None);
        assert_eq!(config.proxy, Proxy::System);
    }

    #[test]
    fn flags_win_over_the_profile_which_wins_over_ssl_cert_file() {
        let profile = NetworkSettings {
            ca_file: Some("profile-ca.pem".into()),
            roots: Some(RootsArg::Webpki),
            client_cert: Some("profile.pem".into()),
            client_key: Some("profile.key".into()),
            ..NetworkSettings::default()
        };
        let env = [("SSL_CERT_FILE", "/etc/ssl/bundle.pem")];
        let from_profile = resolve(&NetworkArgs::default(), &profile, &env).unwrap();
        assert_eq!(from_profile.ca_file, Some("profile-ca.pem".into()));
        assert_eq!(from_profile.roots, Roots::WebPki);
        assert_eq!(
            from_profile.client_identity,
            Some(ClientIdentity::from_pem_files("profile.pem", "profile.key"))
        );
        let flags = NetworkArgs {
            ca_file: Some("flag-ca.pem".into()),
            ..NetworkArgs::default()
        };
        assert_eq!(
            resolve(&flags, &profile, &env).unwrap().ca_file,
            Some("flag-ca.pem".into())
        );
        let only_env = resolve(&NetworkArgs::default(), &NetworkSettings::default(), &env);
        assert_eq!(
            only_env.unwrap().ca_file,
            Some("/etc/ssl/bundle.pem".into())
        );
    }

    #[test]
    fn an_explicit_proxy_takes_no_proxy_from_the_flag_profile_or_environment() {
        let flags = NetworkArgs {
            proxy: Some("http://proxy.corp:3128".parse().unwrap()),
            ..NetworkArgs::default()
        };
        let config = resolve(
            &flags,
            &NetworkSettings::default(),
            &[("no_proxy", ".corp")],
        )
        .unwrap();
        let Proxy::Url(url) = &config.proxy else {
            panic!("an explicit proxy: {:?}", config.proxy);
        };
        assert_eq!(url.uri(), "http://proxy.corp:3128/");
        assert_eq!(url.no_proxy(), ".corp");
        let none = NetworkArgs {
            proxy: Some("none".parse().unwrap()),
            ..NetworkArgs::default()
        };
        assert_eq!(
            resolve(&none, &NetworkSettings::default(), &[])
                .unwrap()
                .proxy,
            Proxy::None
        );
    }

    #[test]
    fn half_a_client_identity_or_a_bad_proxy_is_a_usage_error_and_passwords_stay_hidden() {
        let half = NetworkArgs {
            client_cert: Some("me.pem".into()),
            ..NetworkArgs::default()
        };
        let error = resolve(&half, &NetworkSettings::default(), &[]).unwrap_err();
        assert!(matches!(error, CliError::Usage { .. }), "{error:?}");
        assert!(error.to_string().contains("SN_CLIENT_KEY"), "{error}");
        let socks = NetworkArgs {
            proxy: Some("socks5://user:hunter2@proxy:1080".parse().unwrap()),
            ..NetworkArgs::default()
        };
        let error = resolve(&socks, &NetworkSettings::default(), &[]).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(!format!("{socks:?}").contains("hunter2"));
    }

    #[test]
    fn a_profile_reads_its_network_table() {
        let settings: NetworkSettings = toml::from_str(
            "ca_file = \"/etc/corp/ca.pem\"\nroots = \"ca-file-only\"\nproxy = \"none\"\n",
        )
        .unwrap();
        assert_eq!(settings.roots, Some(RootsArg::CaFileOnly));
        assert_eq!(settings.proxy, Some(ProxySetting("none".into())));
        assert!(toml::from_str::<NetworkSettings>("cafile = \"x\"").is_err());
    }
}
