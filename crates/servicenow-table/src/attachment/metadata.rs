//! `Attachment`: the typed metadata of one `sys_attachment` record, parsed from the strings the
//! Attachment API sends (`servicenow-api-more.md` §1, "Metadata").

use serde::Deserialize;

use crate::SysId;

/// One attachment's metadata, as the Attachment API describes it.
///
/// Every value arrives as a string on the wire; numbers and flags are parsed here, and a value
/// that is absent or empty is `None`. A number that does not parse makes the whole response
/// malformed rather than silently zero.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attachment {
    /// The attachment's own `sys_id`.
    pub sys_id: SysId,
    /// The file's name (`file_name`).
    pub file_name: String,
    /// The file's type, as given when it was uploaded (`content_type`).
    pub content_type: String,
    /// The table of the record it is attached to (`table_name`).
    pub table_name: String,
    /// The `sys_id` of the record it is attached to (`table_sys_id`).
    pub table_sys_id: String,
    /// The file's size in bytes (`size_bytes`).
    pub size_bytes: Option<u64>,
    /// The stored (compressed) size in bytes (`size_compressed`).
    pub size_compressed: Option<u64>,
    /// Whether the instance stores it compressed (`compressed`).
    pub compressed: Option<bool>,
    /// The SHA-256 of the content as 64 lowercase hex characters (`hash`; absent from the
    /// documentation, sent by instances; a download is checked against it).
    pub hash: Option<String>,
    /// The absolute URL of the content (`download_link`); never followed by this client.
    pub download_link: Option<String>,
    /// An image's width and height in pixels (`image_width`, `image_height`).
    pub image_width: Option<u32>,
    /// See [`image_width`](Self::image_width).
    pub image_height: Option<u32>,
    /// `sys_created_on`, as the instance formats it.
    pub sys_created_on: Option<String>,
    /// `sys_created_by`.
    pub sys_created_by: Option<String>,
    /// `sys_updated_on`, as the instance formats it.
    pub sys_updated_on: Option<String>,
    /// `sys_mod_count`.
    pub sys_mod_count: Option<u64>,
}

/// The wire shape: every field a string, any of them possibly missing.
#[derive(Deserialize)]
struct Wire {
    sys_id: SysId,
    #[serde(default)]
    file_name: String,
    #[serde(default)]
    content_type: String,
    #[serde(default)]
    table_name: String,
    #[serde(default)]
    table_sys_id: String,
    size_bytes: Option<String>,
    size_compressed: Option<String>,
    compressed: Option<String>,
    hash: Option<String>,
    download_link: Option<String>,
    image_width: Option<String>,
    image_height: Option<String>,
    sys_created_on: Option<String>,
    sys_created_by: Option<String>,
    sys_updated_on: Option<String>,
    sys_mod_count: Option<String>,
}

impl<'de> Deserialize<'de> for Attachment {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        Self::try_from(wire).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<Wire> for Attachment {
    type Error = String;

    fn try_from(wire: Wire) -> Result<Self, String> {
        Ok(Self {
            sys_id: wire.sys_id,
            file_name: wire.file_name,
            content_type: wire.content_type,
            table_name: wire.table_name,
            table_sys_id: wire.table_sys_id,
            size_bytes: number("size_bytes", wire.size_bytes)?,
            size_compressed: number("size_compressed", wire.size_compressed)?,
            compressed: flag("compressed", wire.compressed)?,
            hash: hash(wire.hash)?,
            download_link: present(wire.download_link),
            image_width: number("image_width", wire.image_width)?,
            image_height: number("image_height", wire.image_height)?,
            sys_created_on: present(wire.sys_created_on),
            sys_created_by: present(wire.sys_created_by),
            sys_updated_on: present(wire.sys_updated_on),
            sys_mod_count: number("sys_mod_count", wire.sys_mod_count)?,
        })
    }
}

fn present(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.trim().is_empty())
}

fn number<N: std::str::FromStr>(field: &str, value: Option<String>) -> Result<Option<N>, String> {
    let Some(text) = present(value) else {
        return Ok(None);
    };
    // Image sizes may be sent as "120.0"; a whole number written with a zero fraction is fine.
    let whole = text.trim().strip_suffix(".0").unwrap_or(text.trim());
    whole
        .parse()
        .map(Some)
        .map_err(|_| format!("{field} is not a whole number: \"{}\"", text.escape_debug()))
}

fn flag(field: &str, value: Option<String>) -> Result<Option<bool>, String> {
    match present(value).as_deref().map(str::trim) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(format!(
            "{field} is neither true nor false: \"{}\"",
            other.escape_debug()
        )),
    }
}

/// A SHA-256 in hex, lowercased; anything else (another algorithm's digest) is not checked
/// against and kept as `None`, since a download cannot be verified with it.
fn hash(value: Option<String>) -> Result<Option<String>, String> {
    let Some(text) = present(value) else {
        return Ok(None);
    };
    let text = text.trim();
    if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Ok(Some(text.to_ascii_lowercase()));
    }
    Ok(None)
}
