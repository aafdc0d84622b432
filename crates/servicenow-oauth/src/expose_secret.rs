//! The storage-only serde path for secrets: `#[serde(with = "servicenow_oauth::expose_secret")]`.
//!
//! Secret types are not `Serialize`, so that a token cannot end up in a JSON log line or an API
//! response by accident. A component whose job is to persist tokens (the encrypted token store)
//! opts in field by field:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use servicenow_oauth::{AccessToken, RefreshToken};
//!
//! #[derive(Serialize, Deserialize)]
//! struct StoredTokens {
//!     #[serde(with = "servicenow_oauth::expose_secret")]
//!     access_token: AccessToken,
//!     #[serde(with = "servicenow_oauth::expose_secret::option", default)]
//!     refresh_token: Option<RefreshToken>,
//! }
//!
//! let stored = StoredTokens { access_token: AccessToken::new("at")?, refresh_token: None };
//! let json = serde_json::to_string(&stored)?;
//! assert_eq!(json, r#"{"access_token":"at","refresh_token":null}"#);
//! let restored: StoredTokens = serde_json::from_str(&json)?;
//! assert_eq!(restored.access_token, AccessToken::new("at")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The serialized form is the plain secret: encrypt it before it leaves memory.

use serde::{Deserialize, Deserializer, Serializer};

pub use crate::secret::SecretValue;

/// Serializes a secret as its plain string value. Storage only.
///
/// # Errors
///
/// Whatever the serializer reports.
pub fn serialize<S, T>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: SecretValue,
{
    serializer.serialize_str(value.expose_for_storage())
}

/// Deserializes a secret from its plain string value, validating it as its constructor does.
///
/// # Errors
///
/// Whatever the deserializer reports, or a custom error naming the broken rule (never the value).
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: SecretValue,
{
    let value = String::deserialize(deserializer)?;
    T::from_storage(value).map_err(serde::de::Error::custom)
}

/// The same storage-only path for `Option<Secret>` fields:
/// `#[serde(with = "servicenow_oauth::expose_secret::option", default)]`.
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::SecretValue;

    /// Serializes `Some(secret)` as its plain string value and `None` as `null`. Storage only.
    ///
    /// # Errors
    ///
    /// Whatever the serializer reports.
    pub fn serialize<S, T>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: SecretValue,
    {
        match value {
            Some(value) => serializer.serialize_some(value.expose_for_storage()),
            None => serializer.serialize_none(),
        }
    }

    /// Deserializes `null` (or an absent field, with `#[serde(default)]`) as `None` and a
    /// string as the secret, validating it.
    ///
    /// # Errors
    ///
    /// Whatever the deserializer reports, or a custom error naming the broken rule.
    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: SecretValue,
    {
        match Option::<String>::deserialize(deserializer)? {
            Some(value) => T::from_storage(value)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}
