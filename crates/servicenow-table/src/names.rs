//! Validated newtypes for what goes into a Table API URL: instance, table name, field name, sys_id.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::TableError;

/// The base URL of the instance the client talks to, validated: `https://host[:port]`, or
/// `http://` on a loopback host (`127.0.0.0/8`, `[::1]`, `localhost`) for local emulators.
/// No user information, no path, no query, no fragment.
///
/// Every request the client builds goes to this origin, and a `Link` to any other origin is
/// refused ([`TableError::ForeignOrigin`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceBase {
    origin: String,
}

impl InstanceBase {
    /// Validates `value` (see the type's docs).
    pub fn new(value: &str) -> Result<Self, TableError> {
        let refuse = |reason| TableError::InvalidName {
            kind: "instance url",
            value: value.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(value).map_err(|_| refuse("not an absolute url"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse("carries user information"));
        }
        if !matches!(parsed.path(), "" | "/") {
            return Err(refuse("has a path; give the instance origin only"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(refuse("has a query or fragment"));
        }
        let Some(host) = parsed.host_str() else {
            return Err(refuse("has no host"));
        };
        match parsed.scheme() {
            "https" => (),
            "http" if servicenow_http::is_loopback_host(host) => (),
            "http" => return Err(refuse("plain http is allowed for loopback hosts only")),
            _ => return Err(refuse("scheme must be https")),
        }
        Ok(Self {
            origin: parsed.origin().ascii_serialization(),
        })
    }

    /// The origin, `scheme://host[:port]`, without a trailing slash.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether `url` (absolute) is on this instance's origin.
    pub fn is_same_origin(&self, url: &url::Url) -> bool {
        url.origin().ascii_serialization() == self.origin
    }
}

impl fmt::Display for InstanceBase {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.origin)
    }
}

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Validates a ", $kind, ".")]
            pub fn new(value: impl Into<String>) -> Result<Self, TableError> {
                let value = value.into();
                match $check(&value) {
                    Ok(()) => Ok(Self(value)),
                    Err(reason) => Err(TableError::InvalidName { kind: $kind, value, reason }),
                }
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = TableError;
            fn try_from(value: &str) -> Result<Self, TableError> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = TableError;
            fn try_from(value: String) -> Result<Self, TableError> {
                Self::new(value)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

validated_name!(
    /// A table name such as `incident` or `x_acme_app_asset`: 1 to 80 of `[A-Za-z0-9_]`.
    TableName,
    "table name",
    check_table_name
);

validated_name!(
    /// A field name such as `short_description` or, dot-walked, `assigned_to.email`:
    /// 1 to 200 of `[a-z0-9_.]`, not starting or ending with `.`, without `..`.
    ///
    /// Anything else could end a condition and start another inside an encoded query. Upper
    /// case is refused too (ServiceNow column names are lower case): the operators are upper
    /// case, so a name like `activeIN` would read as the field `active` with the `IN` operator.
    FieldName,
    "field name",
    check_field_name
);

validated_name!(
    /// A record's `sys_id`: 32 hexadecimal digits.
    SysId,
    "sys_id",
    check_sys_id
);

fn check_table_name(value: &str) -> Result<(), &'static str> {
    if value.is_empty() || value.len() > 80 {
        return Err("must be 1 to 80 characters");
    }
    if !value
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    {
        return Err("may contain only A-Z, a-z, 0-9 and _");
    }
    Ok(())
}

fn check_field_name(value: &str) -> Result<(), &'static str> {
    if value.is_empty() || value.len() > 200 {
        return Err("must be 1 to 200 characters");
    }
    let allowed = |byte: u8| {
        byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'.'
    };
    if !value.bytes().all(allowed) {
        return Err("may contain only a-z, 0-9, _ and . (operators are upper case)");
    }
    if value.starts_with('.') || value.ends_with('.') || value.contains("..") {
        return Err("a dot-walk needs a field name on both sides of each .");
    }
    Ok(())
}

fn check_sys_id(value: &str) -> Result<(), &'static str> {
    if value.len() != 32 || !value.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err("must be 32 hexadecimal digits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_base_accepts_https_and_loopback_http_origins_only() {
        assert_eq!(
            InstanceBase::new("https://dev1.service-now.com/")
                .map(|base| base.to_string())
                .ok(),
            Some("https://dev1.service-now.com".into())
        );
        assert_eq!(
            InstanceBase::new("http://127.0.0.1:8080")
                .map(|base| base.to_string())
                .ok(),
            Some("http://127.0.0.1:8080".into())
        );
        for refused in [
            "http://dev1.service-now.com",
            "https://user:pw@dev1.service-now.com",
            "https://dev1.service-now.com/api",
            "https://dev1.service-now.com/?x=1",
            "ftp://dev1.service-now.com",
            "dev1.service-now.com",
        ] {
            assert!(
                matches!(
                    InstanceBase::new(refused),
                    Err(TableError::InvalidName {
                        kind: "instance url",
                        ..
                    })
                ),
                "{refused}"
            );
        }
    }

    #[test]
    fn names_refuse_characters_that_could_reshape_a_url_or_query() {
        assert!(TableName::new("x_acme_app_asset").is_ok());
        assert!(FieldName::new("assigned_to.email").is_ok());
        assert!(SysId::new("0123456789abcdef0123456789ABCDEF").is_ok());
        for bad in ["", "incident/../sys_user", "inc?x", "a^b", "naïve"] {
            assert!(TableName::new(bad).is_err(), "{bad}");
        }
        for bad in [
            "",
            "active^ORactive",
            "a=b",
            "short description",
            "a,b",
            "ünicode",
        ] {
            let error = FieldName::new(bad).expect_err(bad);
            assert!(
                error.to_string().contains(&format!("{bad:?}")),
                "the error names the value: {error}"
            );
        }
        assert!(SysId::new("../../etc").is_err());
        assert!(SysId::new("0123456789abcdef0123456789abcdeg").is_err());
    }

    #[test]
    fn names_deserialize_with_the_same_validation() {
        let parsed: Result<FieldName, _> = serde_json::from_str("\"a^b\"");
        assert!(parsed.is_err());
        let parsed: SysId =
            serde_json::from_str("\"0123456789abcdef0123456789abcdef\"").expect("valid");
        assert_eq!(parsed.as_str(), "0123456789abcdef0123456789abcdef");
    }
}
