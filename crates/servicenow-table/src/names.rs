//! Validated newtypes for what goes into a Table API URL: table name, field name, sys_id (the
//! instance is a `servicenow_oauth::InstanceUrl`).

use std::{convert::Infallible, fmt};

use serde::{Deserialize, Deserializer, Serialize};

use crate::TableError;

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Validates a ", $kind, ".")]
            pub fn new(value: impl Into<String>) -> Result<Self, TableError<Infallible>> {
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

        impl std::str::FromStr for $name {
            type Err = TableError<Infallible>;
            fn from_str(value: &str) -> Result<Self, TableError<Infallible>> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = TableError<Infallible>;
            fn try_from(value: &str) -> Result<Self, TableError<Infallible>> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = TableError<Infallible>;
            fn try_from(value: String) -> Result<Self, TableError<Infallible>> {
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
    fn names_refuse_characters_that_could_reshape_a_url_or_query() {
        assert!(TableName::new("x_acme_app_asset").is_ok());
        assert_eq!(
            "incident".parse::<TableName>().unwrap().as_str(),
            "incident"
        );
        assert!("inc ident".parse::<TableName>().is_err());
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
