//! The HTML of the login, consent and error pages: plain forms, no JavaScript, so that a real
//! browser and the scripted user agent see the same thing.
//!
//! Stable hooks for automation: the login form has `id="login"` with fields `user_name` and
//! `user_password`; the consent form has `id="consent"` with buttons `name="action"` valued
//! `allow` (`id="allow"`) and `deny` (`id="deny"`); error pages carry the message in
//! `<p id="error">`. Every form carries the session's CSRF token as `sysparm_ck`.

use crate::wire::html_escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}\
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;\
box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.4rem;margin-top:0}\
label{display:block;margin-top:1rem}input[type=text],input[type=password]{width:100%;\
padding:.5rem;box-sizing:border-box}button{margin-top:1.5rem;margin-right:.5rem;\
padding:.5rem 1.2rem}.error{color:#b00020}.note{color:#555;font-size:.9rem}";

fn page(title: &str, content: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} | ServiceNow emulator</title><style>{STYLE}</style></head>\n\
         <body><main>\n{content}\n</main></body></html>\n",
        title = html_escape(title)
    )
}

/// The login form; `goto` is the authorization URL (path and query) to return to.
pub(crate) fn login(csrf_token: &str, goto: &str, error: Option<&str>) -> String {
    let error = error
        .map(|message| {
            format!(
                "<p id=\"error\" class=\"error\">{}</p>\n",
                html_escape(message)
            )
        })
        .unwrap_or_default();
    page(
        "Log in",
        &format!(
            "<h1>Log in to the ServiceNow emulator</h1>\n{error}\
             <form id=\"login\" method=\"post\" action=\"/login.do\">\n\
             <input type=\"hidden\" name=\"sysparm_ck\" value=\"{csrf}\">\n\
             <input type=\"hidden\" name=\"sysparm_goto_url\" value=\"{goto}\">\n\
             <label for=\"user_name\">User name</label>\n\
             <input type=\"text\" id=\"user_name\" name=\"user_name\" autocomplete=\"username\" required>\n\
             <label for=\"user_password\">Password</label>\n\
             <input type=\"password\" id=\"user_password\" name=\"user_password\" autocomplete=\"current-password\" required>\n\
             <button type=\"submit\" id=\"sysverb_login\" name=\"sys_action\" value=\"sysverb_login\">Log in</button>\n\
             </form>",
            csrf = html_escape(csrf_token),
            goto = html_escape(goto),
        ),
    )
}

/// The Allow / Deny page; `oauth_request` is the authorization request's query string.
pub(crate) fn consent(
    csrf_token: &str,
    oauth_request: &str,
    client_name: &str,
    user: &str,
    redirect_uri: &str,
) -> String {
    page(
        "Allow access",
        &format!(
            "<h1>Allow access?</h1>\n\
             <p><strong id=\"client\">{client}</strong> wants to access the ServiceNow emulator \
             as <strong id=\"user\">{user}</strong>.</p>\n\
             <p class=\"note\">You will be sent back to {redirect}.</p>\n\
             <form id=\"consent\" method=\"post\" action=\"/oauth_auth.do\">\n\
             <input type=\"hidden\" name=\"sysparm_ck\" value=\"{csrf}\">\n\
             <input type=\"hidden\" name=\"oauth_request\" value=\"{request}\">\n\
             <button type=\"submit\" id=\"allow\" name=\"action\" value=\"allow\">Allow</button>\n\
             <button type=\"submit\" id=\"deny\" name=\"action\" value=\"deny\">Deny</button>\n\
             </form>",
            client = html_escape(client_name),
            user = html_escape(user),
            redirect = html_escape(redirect_uri),
            csrf = html_escape(csrf_token),
            request = html_escape(oauth_request),
        ),
    )
}

/// An error page; the message is what a real instance shows where the docs give it.
pub(crate) fn error(message: &str) -> String {
    page(
        "Error",
        &format!(
            "<h1>OAuth error</h1>\n<p id=\"error\" class=\"error\">{}</p>",
            html_escape(message)
        ),
    )
}

/// The home page, for a browser pointed at the base URL.
pub(crate) fn home(user: Option<&str>) -> String {
    let who = match user {
        Some(user) => format!(
            "<p>Logged in as <strong id=\"user\">{}</strong>.</p>",
            html_escape(user)
        ),
        None => {
            "<p>Not logged in. Log in happens through <code>/oauth_auth.do</code>.</p>".to_owned()
        }
    };
    page(
        "ServiceNow emulator",
        &format!(
            "<h1>ServiceNow emulator</h1>\n{who}\n<p class=\"note\">OAuth: <code>/oauth_auth.do</code>, \
             <code>/oauth_token.do</code>, <code>/oauth_revoke_token.do</code>. \
             Table API: <code>/api/now/table/{{table}}</code>.</p>"
        ),
    )
}
