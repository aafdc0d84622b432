//! One entry of the operating system's keyring (Secret Service, Keychain, Credential Manager),
//! used off the async threads and with a deadline.

use std::{fmt, time::Duration};

use zeroize::Zeroizing;

use crate::StoreError;

/// How long one keyring call may take (a Secret Service being started by D-Bus activation, or one
/// that waits for an unlock prompt nobody answers).
const KEYRING_TIMEOUT: Duration = Duration::from_secs(20);

/// An entry of the operating system's keyring, named by a service and an account: the Secret
/// Service on Linux (GNOME Keyring, KWallet, KeePassXC), the Keychain on macOS, the Credential
/// Manager on Windows.
///
/// Each call runs on tokio's blocking pool and gives up after 20 s with a typed error (a locked
/// keyring may wait for a password prompt). Errors name the entry and the platform's failure,
/// never the secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OsKeyringEntry {
    service: String,
    account: String,
}

impl OsKeyringEntry {
    /// The entry `account` under `service`.
    pub fn new(service: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            account: account.into(),
        }
    }

    /// The secret text of the entry; `None` when there is no such entry.
    pub async fn read(&self) -> Result<Option<Zeroizing<String>>, StoreError> {
        self.call("read", |entry| match entry.get_password() {
            Ok(text) => Ok(Some(Zeroizing::new(text))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(error),
        })
        .await
    }

    /// Creates or replaces the entry's secret text.
    pub async fn write(&self, text: Zeroizing<String>) -> Result<(), StoreError> {
        self.call("write", move |entry| entry.set_password(&text))
            .await
    }

    /// Deletes the entry; an absent entry is fine.
    pub async fn remove(&self) -> Result<(), StoreError> {
        self.call("remove", |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(error) => Err(error),
        })
        .await
    }

    fn failure(&self, operation: &'static str, reason: String) -> StoreError {
        StoreError::KeySource {
            operation,
            source_name: self.to_string(),
            reason,
        }
    }

    async fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&keyring::Entry) -> Result<T, keyring::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let entry = keyring::Entry::new(&this.service, &this.account)
                .map_err(|error| this.failure(operation, describe(&error)))?;
            work(&entry).map_err(|error| this.failure(operation, describe(&error)))
        });
        match tokio::time::timeout(KEYRING_TIMEOUT, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => Err(StoreError::backend("os keyring", operation, error)),
            Err(_) => Err(self.failure(
                operation,
                format!(
                    "the keyring service did not answer within {} s (is it locked and waiting \
                     for a password prompt?)",
                    KEYRING_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

/// The keyring crate's message (it names the platform's failure, never the secret), with what
/// it means for a user.
fn describe(error: &keyring::Error) -> String {
    match error {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            format!("no usable keyring service on this machine ({inner})")
        }
        other => other.to_string(),
    }
}

impl fmt::Display for OsKeyringEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the OS keyring entry {:?} / {:?}",
            self.service, self.account
        )
    }
}

impl fmt::Debug for OsKeyringEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OsKeyringEntry({self})")
    }
}
