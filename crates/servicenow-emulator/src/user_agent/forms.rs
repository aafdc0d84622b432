//! Reading this emulator's HTML pages: forms with their hidden fields and buttons, and the
//! message of an error page. Just enough HTML for pages we write ourselves.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use url::Url;

use super::Step;
use crate::Error;

/// A form found on a page: its action and its `<input>` and `<button>` tags' attributes.
pub(super) struct Form {
    action: String,
    method: String,
    inputs: Vec<BTreeMap<String, String>>,
    buttons: Vec<BTreeMap<String, String>>,
}

impl Form {
    pub(super) fn hidden_fields(&self) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|input| input.get("type").is_some_and(|kind| kind == "hidden"))
            .filter_map(|input| {
                Some((
                    input.get("name")?.clone(),
                    input.get("value").cloned().unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// The named button with this value (or the first named button when `value` is `None`).
    pub(super) fn button(&self, value: Option<&str>) -> Option<(String, String)> {
        self.buttons
            .iter()
            .filter(|button| {
                value.is_none_or(|value| button.get("value").is_some_and(|own| own == value))
            })
            .find_map(|button| {
                Some((
                    button.get("name")?.clone(),
                    button.get("value").cloned().unwrap_or_default(),
                ))
            })
    }

    pub(super) fn submission(
        &self,
        page_url: &Url,
        fields: &[(String, String)],
    ) -> Result<Step, Error> {
        let url = page_url.join(&self.action).map_err(|error| {
            Error::UnexpectedPage(format!("unusable form action {:?}: {error}", self.action))
        })?;
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        if self.method.eq_ignore_ascii_case("get") {
            let mut url = url;
            url.set_query(Some(&body));
            return Ok(Step {
                method: Method::GET,
                url,
                form: None,
            });
        }
        Ok(Step {
            method: Method::POST,
            url,
            form: Some(body),
        })
    }
}

/// Finds `<form … id="{id}" …>` and the inputs and buttons up to its `</form>`.
pub(super) fn find_form(page: &str, id: &str) -> Option<Form> {
    let mut rest = page;
    while let Some(start) = rest.find("<form") {
        let (attributes, after) = tag_attributes(&rest[start + 5..])?;
        if attributes.get("id").is_some_and(|own| own == id) {
            let body = &after[..after.find("</form>").unwrap_or(after.len())];
            return Some(Form {
                action: attributes.get("action").cloned().unwrap_or_default(),
                method: attributes
                    .get("method")
                    .cloned()
                    .unwrap_or_else(|| "get".to_owned()),
                inputs: tags(body, "<input"),
                buttons: tags(body, "<button"),
            });
        }
        rest = after;
    }
    None
}

fn tags(text: &str, opening: &str) -> Vec<BTreeMap<String, String>> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(opening) {
        let Some((attributes, after)) = tag_attributes(&rest[start + opening.len()..]) else {
            break;
        };
        found.push(attributes);
        rest = after;
    }
    found
}

/// Reads `name="value"` attributes up to the tag's `>`; returns them and the text after it.
fn tag_attributes(text: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut attributes = BTreeMap::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("/>").or_else(|| rest.strip_prefix('>')) {
            return Some((attributes, after));
        }
        let name_end = rest.find(|character: char| {
            character == '=' || character == '>' || character.is_whitespace()
        })?;
        if name_end == 0 {
            rest = &rest[1..];
            continue;
        }
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let Some(after_equals) = rest.strip_prefix('=') else {
            attributes.insert(name, String::new());
            continue;
        };
        let after_equals = after_equals.trim_start();
        let (value, after) = match after_equals.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let closing = after_equals[1..].find(quote)? + 1;
                (&after_equals[1..closing], &after_equals[closing + 1..])
            }
            _ => {
                let end = after_equals
                    .find(|character: char| character == '>' || character.is_whitespace())
                    .unwrap_or(after_equals.len());
                (&after_equals[..end], &after_equals[end..])
            }
        };
        attributes.insert(name, decode_entities(value));
        rest = after;
    }
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The text of `<p id="error" …>…</p>` (or the page's start) for an error.
pub(super) fn error_page(status: StatusCode, page: &str) -> Error {
    let message = page
        .find("id=\"error\"")
        .and_then(|start| {
            let after = &page[start..];
            let open = after.find('>')? + 1;
            let close = after[open..].find("</p>")? + open;
            Some(decode_entities(&after[open..close]))
        })
        .unwrap_or_else(|| page.chars().take(200).collect());
    Error::ErrorPage {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_found_with_their_hidden_fields_and_buttons() {
        let page = r#"<form id="other" action="/x"></form>
            <form id="consent" method="post" action="/oauth_auth.do">
            <input type="hidden" name="sysparm_ck" value="a&amp;b">
            <input type='hidden' name=oauth_request value="x=1&amp;y=&quot;2&quot;">
            <button type="submit" name="action" value="allow">Allow</button>
            <button type="submit" name="action" value="deny">Deny</button></form>"#;
        let form = find_form(page, "consent").unwrap();
        assert_eq!(form.action, "/oauth_auth.do");
        assert_eq!(
            form.hidden_fields(),
            vec![
                ("sysparm_ck".to_owned(), "a&b".to_owned()),
                ("oauth_request".to_owned(), "x=1&y=\"2\"".to_owned()),
            ]
        );
        assert_eq!(
            form.button(Some("deny")),
            Some(("action".to_owned(), "deny".to_owned()))
        );
        assert!(find_form(page, "login").is_none());
    }
}
