//! The scenario steps that involve the application or the browser: commands and callbacks,
//! with the checks that belong to them (401s, state handling).

use servicenow_auth::{Command, Event, Input, Output};
use servicenow_testkit::form;

use crate::actions::{CallbackKind, CommandKind};
use crate::model::{Expected, Request, Step};
use crate::observe::set_view;
use crate::world::{Invariant, RefreshTokenLicence, World};

/// The most outputs the foreign machine may give for one `BeginLogin`.
const FOREIGN_DRAIN_CAP: usize = 100;

impl World {
    pub(crate) fn command(&mut self, command: CommandKind) {
        match command {
            CommandKind::EnsureFresh => self.give(
                Command::EnsureFresh,
                RefreshTokenLicence::Unchanged,
                Step::EnsureFresh,
            ),
            CommandKind::BeginLogin if !self.client_credentials => {
                self.give(
                    Command::BeginLogin,
                    RefreshTokenLicence::Unchanged,
                    Step::BeginLogin,
                );
            }
            CommandKind::Acquire if self.client_credentials => {
                self.blocked = false;
                self.give(
                    Command::Acquire,
                    RefreshTokenLicence::Unchanged,
                    Step::Acquire,
                );
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
                let number = self.ids.number(older);
                self.give(
                    Command::Unauthorized { token_id: older },
                    RefreshTokenLicence::Unchanged,
                    Step::Unauthorized(number),
                );
                // The 401 itself does nothing; a refresh may still go out if it had fallen due
                // while the driver slept, as the model says.
                let expected = self.predicted_token_requests();
                if self.token_requests_this_drain != expected {
                    let sent = self.token_requests_this_drain;
                    self.violation(
                        Invariant::UnauthorizedRefreshesOnce,
                        format!("a 401 for an older token sent {sent} token requests, the model expected {expected}"),
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
                let step = Step::Restore(set_view(&set));
                self.give(Command::Restore(set), licence, step);
            }
            CommandKind::Revoke => {
                self.give(Command::Revoke, RefreshTokenLicence::Dropped, Step::Revoke);
            }
        }
    }

    /// A 401 for the token handed out now: exactly the one token request the reference model
    /// predicts (none when a request is in flight, a retry waits, re-authorization is required
    /// or nothing can refresh), the refused token withdrawn, and nothing for a second 401.
    fn unauthorized_current(&mut self) {
        let Some(current) = self.machine.access_token(self.now).map(|token| token.id) else {
            return;
        };
        let number = self.ids.number(current);
        self.give(
            Command::Unauthorized { token_id: current },
            RefreshTokenLicence::Unchanged,
            Step::Unauthorized(number),
        );
        let expected = self.predicted_token_requests();
        self.coverage.unauthorized_refreshes += expected;
        if self.token_requests_this_drain != expected {
            let sent = self.token_requests_this_drain;
            self.violation(
                Invariant::UnauthorizedRefreshesOnce,
                format!(
                    "a 401 for the current token sent {sent} token requests, the model expected {expected}"
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
            Step::Unauthorized(number),
        );
        if self.token_requests_this_drain != 0 {
            self.violation(
                Invariant::UnauthorizedRefreshesOnce,
                "a second 401 for the same token sent a token request".into(),
            );
        }
    }

    /// The token requests (not revocations) the reference model predicted for the last input.
    fn predicted_token_requests(&self) -> usize {
        self.last_expected
            .iter()
            .filter(|output| {
                matches!(output, Expected::Request { request, .. } if !matches!(request, Request::Revoke { .. }))
            })
            .count()
    }

    pub(crate) fn callback(&mut self, kind: CallbackKind, pick: usize) {
        let (query, code, expected_accept, code_never_valid, step) = match kind {
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
                    let step = Step::CallbackError { login: Some(index) };
                    (self.server.deny(&url), None, false, false, step)
                } else {
                    let query = login.callback.clone();
                    let code = form(query.as_bytes()).get("code").cloned();
                    let step = Step::CallbackCode {
                        login: Some(index),
                        code: code.clone().unwrap_or_default(),
                    };
                    (query, code, accept, first_delivery && !accept, step)
                }
            }
            CallbackKind::Replayed => {
                if self.delivered_callbacks.is_empty() {
                    return;
                }
                let replayed = pick % self.delivered_callbacks.len();
                let query = self.delivered_callbacks[replayed].clone();
                let step = self.delivered_steps[replayed].clone();
                let code = form(query.as_bytes()).get("code").cloned();
                (query, code, false, false, step)
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
                let step = Step::CallbackCode {
                    login: None,
                    code: code.clone(),
                };
                (query, Some(code), false, true, step)
            }
            CallbackKind::Foreign => {
                let started = self.foreign_login();
                let query = self.server.authorize(&started);
                let code = form(query.as_bytes()).get("code").cloned();
                let step = Step::CallbackCode {
                    login: None,
                    code: code.clone().unwrap_or_default(),
                };
                (query, code, false, true, step)
            }
        };
        self.delivered_callbacks.push(query.clone());
        self.delivered_steps.push(step.clone());
        let failures_before = self.login_failures_seen;
        self.give(
            Command::CompleteLogin {
                callback_query: query,
            },
            RefreshTokenLicence::Unchanged,
            step,
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
        for _ in 0..FOREIGN_DRAIN_CAP {
            match self.foreign.poll_output() {
                Output::Event(Event::LoginStarted(started)) => {
                    self.secrets.insert(started.state.secret().to_owned());
                    url = started.authorization_url.as_str().to_owned();
                }
                Output::Timeout(_) => return url,
                _ => (),
            }
        }
        self.violation(
            Invariant::HarnessMisuse,
            format!("the foreign machine gave more than {FOREIGN_DRAIN_CAP} outputs for one login"),
        );
        url
    }
}
