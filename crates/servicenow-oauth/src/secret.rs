//! Secrets as types: a redacted `Debug`, no `Display`, explicit access, zeroized on drop, and a
//! storage-only serde path ([`crate::expose_secret`]).

use crate::Error;

/// Defines a secret string newtype.
///
/// The generated type:
/// - holds its value in a [`zeroize::Zeroizing`] string, so the bytes are wiped on drop;
/// - prints `TypeName([redacted])` in `Debug` and has no `Display`;
/// - gives the value only through `.secret()`, whose name shows at the call site;
/// - compares in constant time (for equal lengths) through [`subtle`];
/// - is not `Serialize`: the only way to persist it is the explicit [`crate::expose_secret`]
///   serde module.
///
/// `Clone` is opted into per type with a `#[derive(Clone)]` attribute.
macro_rules! new_secret_type {
    (
        $(#[$attr:meta])*
        $name:ident, what = $what:literal, validate = $validate:path $(,)?
    ) => {
        $(#[$attr])*
        pub struct $name(::zeroize::Zeroizing<String>);

        impl $name {
            #[doc = concat!("Wraps a ", $what, " after checking it; an invalid value is wiped and refused.")]
            ///
            /// # Errors
            ///
            /// [`crate::Error::InvalidValue`] naming the rule the value breaks (never the value).
            pub fn new(value: impl Into<String>) -> Result<Self, crate::Error> {
                let value = ::zeroize::Zeroizing::new(value.into());
                $validate($what, &value)?;
                Ok(Self(value))
            }

            #[doc = concat!("The ", $what, " itself.")]
            ///
            /// # Security warning
            ///
            /// This is a secret. Leaking it lets someone else act as this client or user.
            /// Put it only where the protocol needs it (a form body or an `Authorization`
            /// header over TLS); never in a log line, an error, a panic message or a URL.
            #[must_use]
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            /// Compares in constant time for values of equal length (the length itself is not
            /// hidden).
            fn eq(&self, other: &Self) -> bool {
                ::subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}

        impl TryFrom<String> for $name {
            type Error = crate::Error;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl crate::secret::sealed::Sealed for $name {}

        impl crate::secret::SecretValue for $name {
            fn expose_for_storage(&self) -> &str {
                &self.0
            }

            fn from_storage(value: String) -> Result<Self, crate::Error> {
                Self::new(value)
            }
        }
    };
}

pub(crate) use new_secret_type;

pub(crate) mod sealed {
    /// Only this crate's secret types can be stored through [`crate::expose_secret`].
    pub trait Sealed {}
}

/// A secret type of this crate that may be written to and read back from storage through the
/// [`crate::expose_secret`] serde module.
///
/// Sealed: implemented by every secret type of this crate and by nothing else.
pub trait SecretValue: sealed::Sealed + Sized {
    /// The value, for the storage layer only (see the security warning on each type's
    /// `.secret()`).
    fn expose_for_storage(&self) -> &str;

    /// Rebuilds the value read from storage, validating it again.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when the stored text breaks the type's rule.
    fn from_storage(value: String) -> Result<Self, Error>;
}

/// Checks that a secret value is not empty.
pub(crate) fn non_empty(what: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::InvalidValue {
            what,
            problem: "must not be empty",
        });
    }
    Ok(())
}

/// Checks RFC 6749 Appendix A's `1*VSCHAR` (printable ASCII including space, at least one),
/// the grammar of `access_token` (A.12) and `refresh_token` (A.17). Values of this shape are
/// always valid in an HTTP header.
pub(crate) fn visible_ascii(what: &'static str, value: &str) -> Result<(), Error> {
    non_empty(what, value)?;
    if !value.bytes().all(|byte| (0x20..=0x7e).contains(&byte)) {
        return Err(Error::InvalidValue {
            what,
            problem: "must be printable ASCII (RFC 6749 Appendix A, VSCHAR)",
        });
    }
    Ok(())
}
