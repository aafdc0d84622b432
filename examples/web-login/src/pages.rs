//! The app's HTML pages; every value from ServiceNow or the request is HTML-escaped.

use html_escape::{encode_double_quoted_attribute, encode_text};

/// A fields row of an incident, as shown.
#[derive(Debug)]
pub(crate) struct IncidentRow {
    pub(crate) number: String,
    pub(crate) short_description: String,
    pub(crate) priority: String,
    pub(crate) state: String,
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:2rem;max-width:48rem}}\
         table{{border-collapse:collapse}}td,th{{padding:.3rem .8rem;border-bottom:1px solid #ddd;\
         text-align:left}}.notice{{background:#eef;padding:.5rem 1rem}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = encode_text(title)
    )
}

/// The hidden form field carrying the session's CSRF token.
fn csrf_field(csrf_token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
        encode_double_quoted_attribute(csrf_token)
    )
}

/// The page of a browser that is not connected: the "Connect ServiceNow" button.
pub(crate) fn connect_page(instance: &str, notice: Option<&str>, csrf_token: &str) -> String {
    let notice = notice
        .map(|text| {
            format!(
                "<p class=\"notice\" id=\"notice\">{}</p>",
                encode_text(text)
            )
        })
        .unwrap_or_default();
    layout(
        "Incidents",
        &format!(
            "{notice}<p>Connect your ServiceNow account on {} to see your open incidents. \
             You will log in on ServiceNow itself; this app never sees your password and keeps \
             your tokens on its server.</p>\
             <form method=\"post\" action=\"/connect\">{}<button id=\"connect\" \
             type=\"submit\">Connect ServiceNow</button></form>",
            encode_text(instance),
            csrf_field(csrf_token)
        ),
    )
}

/// The page of a connected browser: the open incidents and the logout button.
pub(crate) fn incidents_page(
    instance: &str,
    rows: &[IncidentRow],
    total: Option<u64>,
    csrf_token: &str,
) -> String {
    let mut table = String::from(
        "<table id=\"incidents\"><tr><th>Number</th><th>Short description</th><th>Priority</th>\
         <th>State</th></tr>",
    );
    for row in rows {
        table.push_str(&format!(
            "<tr class=\"incident\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            encode_text(&row.number),
            encode_text(&row.short_description),
            encode_text(&row.priority),
            encode_text(&row.state)
        ));
    }
    table.push_str("</table>");
    let count = match total {
        Some(total) => format!("{} of {total} open incidents", rows.len()),
        None => format!("{} open incidents", rows.len()),
    };
    layout(
        "Your open incidents",
        &format!(
            "<p id=\"connected\">Connected to {}. <span id=\"count\">{count}</span>.</p>{table}\
             <form method=\"post\" action=\"/logout\">{}<button id=\"logout\" \
             type=\"submit\">Disconnect ServiceNow</button></form>",
            encode_text(instance),
            csrf_field(csrf_token)
        ),
    )
}

/// An error page with a way back.
pub(crate) fn error_page(title: &str, text: &str) -> String {
    layout(
        title,
        &format!(
            "<p id=\"error\">{}</p><p><a id=\"back\" href=\"/\">Back</a></p>",
            encode_text(text)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_servicenow_are_escaped() {
        let rows = [IncidentRow {
            number: "INC1".to_owned(),
            short_description: "<script>alert(1)</script>".to_owned(),
            priority: "1".to_owned(),
            state: "2".to_owned(),
        }];
        let page = incidents_page("https://x", &rows, Some(1), "t\"><b>");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
        assert!(
            page.contains("name=\"csrf_token\" value=\"t&quot;"),
            "{page}"
        );
        assert!(!page.contains("\"><b>"), "{page}");
    }
}
