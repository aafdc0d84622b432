//! The scenario steps that involve the application or the browser: commands and callbacks,
//! with the checks that belong to them (401s, state handling).

use servicenow_auth::{Command, Event, Input, Output};
use servicenow_testkit::form;

use crate::actions::{CallbackKind, CommandKind};
use crate::world::{Invariant, RefreshTokenLicence, World};

impl World {
    pub(crate) fn command(&mut self, command: CommandKind) {
        match command {
            CommandKind::EnsureFresh => {
                self.give(Command::EnsureFresh, RefreshTokenLicence::Unchanged)
            }
            CommandKind::BeginLogin if !self.client_credentials => {
                self.give(Command::BeginLogin, RefreshTokenLicence::Unchanged);
            }
            CommandKind::Acquire if self.client_credentials => {
                self.blocked = false;
                self.give(Command::Acquire, RefreshTokenLicence::Unchanged);
            }
            CommandKind::BeginLogin | CommandKind::Acquire => (),
            CommandKind::UnauthorizedCurrent => self.unauthorized_current(),
            CommandKind::UnauthorizedOlder => {
                let Some(newest) = self.handed_out_ids.iter().max().copied() else {
                    return;
                };
                let Some(older) = self.handed_out_ids.iter().copied().find(|id| *id < newest)
                else {
                    return;
                };
                self.give(
                    Command::Unauthorized { token_id: older },
                    RefreshTokenLicence::Unchanged,
                );
                if self.token_requests_this_drain != 0 {
                    self.violation(
                        Invariant::UnauthorizedRefreshesOnce,
                        "a 401 for an older token sent a token request".into(),
                    );
                }
            }
            CommandKind::RestoreLatest | CommandKind::RestoreOlder => {
                let set = if matches!(command, CommandKind::RestoreLatest) {
                    self.store.clone()
                } else {
                    self.persisted
                        .get(self.step % self.persisted.len().max(1))
                        .cloned()
                };
                let Some(set) = set else {
                    return;
                };
                self.persisted_access_tokens
                    .insert(set.access_token().secret().to_owned());
                self.blocked = false;
                let licence = RefreshTokenLicence::Restored(
                    set.refresh_token()
                        .map(|record| record.token().secret().to_owned()),
                );
                self.give(Command::Restore(set), licence);
            }
            CommandKind::Revoke => self.give(Command::Revoke, RefreshTokenLicence::Dropped),
        }
    }

    /// A 401 for the token handed out now: exactly one token request when the rules allow one,
    /// and none for a second 401 of the same token.
    fn unauthorized_current(&mut self) {
        let Some(current) = self.machine.access_token(self.now).map(|token| token.id) else {
            return;
        };
        let status = self.machine.status(self.now);
        let refresh_token_usable = self
            .machine
            .token_set()
            .and_then(|set| set.refresh_token())
            .is_some_and(|record| !record.is_expired_at(self.now));
        let may_request = !status.token_request_in_flight
            && status.retry_at.is_none_or(|retry_at| retry_at <= self.now)
            && status.reauthorization_required.is_none()
            && (self.client_credentials || refresh_token_usable);
        self.give(
            Command::Unauthorized { token_id: current },
            RefreshTokenLicence::Unchanged,
        );
        let expected = usize::from(may_request);
        self.coverage.unauthorized_refreshes += expected;
        if self.token_requests_this_drain != expected {
            let sent = self.token_requests_this_drain;
            self.violation(
                Invariant::UnauthorizedRefreshesOnce,
                format!(
                    "a 401 for the current token sent {sent} token requests, expected {expected}"
                ),
            );
        }
        if self
            .machine
            .access_token(self.now)
            .is_some_and(|token| token.id == current)
        {
            self.violation(
                Invariant::UnauthorizedRefreshesOnce,
                "the refused token is still handed out".into(),
            );
        }
        self.give(
            Command::Unauthorized { token_id: current },
            RefreshTokenLicence::Unchanged,
        );
        if self.token_requests_this_drain != 0 {
            self.violation(
                Invariant::UnauthorizedRefreshesOnce,
                "a second 401 for the same token sent a token request".into(),
            );
        }
    }

    pub(crate) fn callback(&mut self, kind: CallbackKind, pick: usize) {
        let (query, code, expected_accept, code_never_valid) = match kind {
            CallbackKind::Genuine | CallbackKind::Denied => {
                if self.logins.is_empty() {
                    return;
                }
                let index = pick % self.logins.len();
                let newer = self.logins.len() - 1 - index;
                let login = &mut self.logins[index];
                let first_delivery = !login.delivered;
                let accept = first_delivery && self.now < login.deadline && newer < 32;
                login.delivered = true;
                if matches!(kind, CallbackKind::Denied) {
                    let url = login.authorization_url.clone();
                    (self.server.deny(&url), None, false, false)
                } else {
                    let query = login.callback.clone();
                    let code = form(query.as_bytes()).get("code").cloned();
                    (query, code, accept, first_delivery && !accept)
                }
            }
            CallbackKind::Replayed => {
                if self.delivered_callbacks.is_empty() {
                    return;
                }
                let query = self.delivered_callbacks[pick % self.delivered_callbacks.len()].clone();
                let code = form(query.as_bytes()).get("code").cloned();
                (query, code, false, false)
            }
            CallbackKind::Forged => {
                let genuine_url = self
                    .logins
                    .first()
                    .map_or_else(String::new, |login| login.authorization_url.clone());
                let real = self.server.authorize(&genuine_url);
                let code = form(real.as_bytes())
                    .get("code")
                    .cloned()
                    .unwrap_or_default();
                let query = format!("code={code}&state=forged{pick:026}");
                (query, Some(code), false, true)
            }
            CallbackKind::Foreign => {
                let started = self.foreign_login();
                let query = self.server.authorize(&started);
                let code = form(query.as_bytes()).get("code").cloned();
                (query, code, false, true)
            }
        };
        self.delivered_callbacks.push(query.clone());
        let failures_before = self.login_failures_seen;
        self.give(
            Command::CompleteLogin {
                callback_query: query,
            },
            RefreshTokenLicence::Unchanged,
        );
        let refused = self.login_failures_seen > failures_before;
        self.coverage.callbacks_refused += usize::from(refused);
        if expected_accept && refused {
            self.violation(
                Invariant::BadStateRejected,
                format!("a genuine, fresh, first callback was refused ({kind:?})"),
            );
        }
        if !expected_accept && !refused {
            self.violation(
                Invariant::BadStateRejected,
                format!("a {kind:?} callback was not refused"),
            );
        }
        // A code whose only callback was refused must never reach the token endpoint; a replayed
        // code is caught by the "exchanged twice" check.
        if let (true, Some(code)) = (code_never_valid, code) {
            self.rejected_codes.insert(code);
        }
    }

    fn foreign_login(&mut self) -> String {
        let input = Input::Command {
            now: self.now,
            command: Command::BeginLogin,
        };
        if self.foreign.handle_input(input).is_err() {
            return String::new();
        }
        let mut url = String::new();
        loop {
            match self.foreign.poll_output() {
                Output::Event(Event::LoginStarted(started)) => {
                    self.secrets.insert(started.state.secret().to_owned());
                    url = started.authorization_url.as_str().to_owned();
                }
                Output::Timeout(_) => return url,
                _ => (),
            }
        }
    }
}
