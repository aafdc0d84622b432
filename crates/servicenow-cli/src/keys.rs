//! Where `sn` keeps keys and secrets: the store's sealing key (the OS keyring by default, a
//! deployment's `SN_STORE_KEY`/`SN_STORE_KEY_FILE`, or a key file beside the data only when
//! chosen) and, when the user opts in, secrets such as the client secret in the OS keyring.
//!
//! Other login modes keep their secrets with [`KeptSecret`]: one keyring entry per profile and
//! kind, never a file.

use std::{path::Path, str::FromStr};

use servicenow::{
    store::{KeySource, OsKeyringEntry, StoreError},
    stores::{self, KEYRING_SERVICE, Store},
};
use zeroize::Zeroizing;

use crate::failure::{CliError, CliResult};

/// What `--key-source` (or `SN_KEY_SOURCE`) asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyChoice {
    /// The OS keyring entry of the store directory.
    Keyring,
    /// The key set in `SN_STORE_KEY`.
    Environment,
    /// A key file given by the deployment.
    File(std::path::PathBuf),
    /// `tokens.key` beside the database: protects a copy of the database alone.
    Colocated,
}

impl FromStr for KeyChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "keyring" => Ok(Self::Keyring),
            "env" => Ok(Self::Environment),
            "colocated" => Ok(Self::Colocated),
            _ => match text.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(Self::File(path.into())),
                _ => Err("use keyring, env, file:PATH or colocated".to_owned()),
            },
        }
    }
}

/// The key source of the store in `store_dir`: the choice, else the deployment's variables,
/// else the OS keyring.
pub(crate) fn key_source(choice: Option<&KeyChoice>, store_dir: &Path) -> KeySource {
    match choice {
        Some(KeyChoice::Keyring) => keyring_source(store_dir),
        Some(KeyChoice::Environment) => KeySource::environment(servicenow::store::KEY_VARIABLE),
        Some(KeyChoice::File(path)) => KeySource::file(path),
        Some(KeyChoice::Colocated) => KeySource::colocated_file(store_dir.join(stores::KEY_FILE)),
        None => KeySource::from_environment().unwrap_or_else(|| keyring_source(store_dir)),
    }
}

/// The OS keyring entry holding the sealing keys of the store in `store_dir`.
pub(crate) fn keyring_source(store_dir: &Path) -> KeySource {
    KeySource::os_keyring(
        KEYRING_SERVICE,
        format!("store-key:{}", store_dir.display()),
    )
}

/// Opens the store in `store_dir` with `source` (a co-located key file's warning is logged on
/// every open, which `sn` shows on stderr at its default level), turning key failures into
/// errors that say what to do.
pub(crate) async fn open_store(store_dir: &Path, source: KeySource) -> CliResult<Store> {
    Store::sqlite(store_dir, source.clone())
        .await
        .map_err(|error| store_error(store_dir, &source, error))
}

fn store_error(store_dir: &Path, source: &KeySource, error: servicenow::Error) -> CliError {
    let hint = match &error {
        servicenow::Error::Store(inner) => match &**inner {
            StoreError::MissingKey { .. } => Some(format!(
                "restore the key into {source}, or, to start over and log in again, delete {}",
                store_dir.display()
            )),
            StoreError::KeySource { .. } if matches!(source, KeySource::OsKeyring { .. }) => Some(
                "start your desktop's keyring (GNOME Keyring, KWallet, KeePassXC), or set \
                 SN_STORE_KEY / SN_STORE_KEY_FILE from a secret manager (`sn store new-key` prints \
                 a key set), or pass --key-source colocated to keep the key beside the data (it \
                 then protects a copy of the database alone)"
                    .to_owned(),
            ),
            _ => None,
        },
        _ => None,
    }
    .unwrap_or_else(|| {
        "pass --store-dir DIR (or set SN_STORE_DIR) to use another directory".to_owned()
    });
    CliError::local(
        format!(
            "cannot open the token store in {}: {error}",
            store_dir.display()
        ),
        Some(hint),
    )
}

/// A secret `sn` keeps for a profile in the OS keyring, only when the user asked for it (for
/// example `sn login --remember-secret`): one entry per profile, instance, client and kind.
#[derive(Clone, Debug)]
pub(crate) struct KeptSecret {
    entry: OsKeyringEntry,
}

impl KeptSecret {
    /// The entry of `kind` (`client-secret`, …) for this profile's instance and client.
    pub(crate) fn new(kind: &str, profile: &str, instance: &str, client_id: &str) -> Self {
        Self {
            entry: OsKeyringEntry::new(
                KEYRING_SERVICE,
                format!("{kind}:{profile}:{instance}:{client_id}"),
            ),
        }
    }

    /// The kept secret, if any; a keyring that cannot be reached counts as none (with a note on
    /// stderr), so commands still work with the secret from the environment or a prompt.
    pub(crate) async fn read(&self) -> Option<Zeroizing<String>> {
        match self.entry.read().await {
            Ok(secret) => secret,
            Err(error) => {
                tracing::info!(%error, "no kept secret");
                None
            }
        }
    }

    /// Keeps `secret`.
    pub(crate) async fn keep(&self, secret: &str) -> CliResult<()> {
        self.entry
            .write(Zeroizing::new(secret.to_owned()))
            .await
            .map_err(|error| {
                CliError::local(
                    format!("cannot keep the secret in the OS keyring: {error}"),
                    Some(
                        "leave out --remember-secret and set SN_CLIENT_SECRET for later commands"
                            .to_owned(),
                    ),
                )
            })
    }

    /// Deletes the kept secret; a keyring that cannot be reached is reported, not fatal.
    pub(crate) async fn forget(&self) {
        if let Err(error) = self.entry.remove().await {
            tracing::info!(%error, "could not remove a kept secret");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_choices_parse_and_refuse_the_unknown() {
        assert_eq!("keyring".parse(), Ok(KeyChoice::Keyring));
        assert_eq!("env".parse(), Ok(KeyChoice::Environment));
        assert_eq!("colocated".parse(), Ok(KeyChoice::Colocated));
        assert_eq!(
            "file:/run/secrets/sn".parse(),
            Ok(KeyChoice::File("/run/secrets/sn".into()))
        );
        assert!("file:".parse::<KeyChoice>().is_err());
        assert!("beside".parse::<KeyChoice>().is_err());
    }

    #[test]
    fn the_default_is_never_a_key_file_beside_the_data() {
        let source = key_source(None, Path::new("/tmp/store"));
        assert!(source.warning().is_none(), "{source}");
        let chosen = key_source(Some(&KeyChoice::Colocated), Path::new("/tmp/store"));
        assert!(chosen.warning().is_some());
        assert!(chosen.to_string().contains("/tmp/store/tokens.key"));
    }
}
