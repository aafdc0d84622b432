//! Logout: drop the token set at once, then revoke the refresh token and the access token.

use servicenow_oauth::{AccessToken, RefreshToken, RevocableToken};

use crate::error::AuthError;

use crate::event::{Event, Revocation, RevocationOutcome};
use crate::io::RequestId;
use crate::machine::{Answer, AuthMachine};
use crate::protocol;
use crate::time::Timestamp;

/// One logout's revocations, done one request at a time: the refresh token first (it can mint
/// new access tokens), then the access token.
#[derive(Debug)]
pub(crate) struct Logout {
    refresh_token: Option<RefreshToken>,
    access_token: Option<AccessToken>,
    outcome: RevocationOutcome,
    in_flight: Option<Revoking>,
}

#[derive(Debug)]
struct Revoking {
    id: RequestId,
    deadline: Timestamp,
    which: Which,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Which {
    RefreshToken,
    AccessToken,
}

impl Logout {
    pub(crate) fn request_id(&self) -> Option<RequestId> {
        self.in_flight.as_ref().map(|revoking| revoking.id)
    }

    pub(crate) fn deadline(&self) -> Option<Timestamp> {
        self.in_flight.as_ref().map(|revoking| revoking.deadline)
    }

    fn record(&mut self, which: Which, revocation: Revocation) {
        match which {
            Which::RefreshToken => self.outcome.refresh_token = revocation,
            Which::AccessToken => self.outcome.access_token = revocation,
        }
    }
}

impl AuthMachine {
    /// Drops the token set (the driver deletes it on [`Event::TokenSetDropped`]) whatever the
    /// server will say, cancels token work in flight, and queues the revocations. A
    /// re-authorization requirement stays: only a login, a restore or `Acquire` lifts it.
    pub(crate) fn start_logout(&mut self) {
        if let Some(request) = &mut self.token_request {
            request.superseded = true;
        }
        self.queued_exchanges.clear();
        self.schedule.on_logout();
        let Some(installed) = self.tokens.take() else {
            let outcome = RevocationOutcome {
                refresh_token: Revocation::NoToken,
                access_token: Revocation::NoToken,
            };
            self.emit(Event::LoggedOut(outcome));
            return;
        };
        self.emit(Event::TokenSetDropped);
        let set = installed.set;
        let refresh_token = set.refresh_token().map(|record| record.token().clone());
        let outcome = RevocationOutcome {
            refresh_token: if refresh_token.is_some() {
                Revocation::NotConfirmed
            } else {
                Revocation::NoToken
            },
            access_token: Revocation::NotConfirmed,
        };
        self.logouts.push_back(Logout {
            refresh_token,
            access_token: Some(set.access_token().clone()),
            outcome,
            in_flight: None,
        });
    }

    /// Sends the next revocation of the oldest logout, or reports it finished.
    pub(crate) fn advance_logouts(&mut self) -> Result<(), AuthError> {
        while let Some(logout) = self.logouts.front_mut() {
            if logout.in_flight.is_some() {
                return Ok(());
            }
            let (which, request) = if let Some(token) = logout.refresh_token.take() {
                (
                    Which::RefreshToken,
                    protocol::revocation_request(
                        &self.config,
                        RevocableToken::RefreshToken(&token),
                    )?,
                )
            } else if let Some(token) = logout.access_token.take() {
                (
                    Which::AccessToken,
                    protocol::revocation_request(
                        &self.config,
                        RevocableToken::AccessToken(&token),
                    )?,
                )
            } else {
                let outcome = logout.outcome;
                self.logouts.pop_front();
                self.emit(Event::LoggedOut(outcome));
                continue;
            };
            let deadline = self.request_deadline();
            let id = self.emit_request(request);
            if let Some(logout) = self.logouts.front_mut() {
                logout.in_flight = Some(Revoking {
                    id,
                    deadline,
                    which,
                });
            }
            return Ok(());
        }
        Ok(())
    }

    pub(crate) fn revocation_answer(&mut self, answer: &Answer) {
        let accepted = match answer {
            Answer::Response(response) => response.status().is_success(),
            Answer::Failed(_) => false,
        };
        if let Some(logout) = self.logouts.front_mut() {
            if let Some(revoking) = logout.in_flight.take() {
                let revocation = if accepted {
                    Revocation::Accepted
                } else {
                    Revocation::NotConfirmed
                };
                logout.record(revoking.which, revocation);
            }
        }
    }

    pub(crate) fn expire_revocation(&mut self) {
        let now = self.now;
        if let Some(logout) = self.logouts.front_mut() {
            if logout
                .in_flight
                .as_ref()
                .is_some_and(|revoking| now >= revoking.deadline)
            {
                logout.in_flight = None;
            }
        }
    }
}
