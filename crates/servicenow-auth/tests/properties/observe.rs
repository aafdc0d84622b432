//! What the machine did, in the reference model's terms, and the step-by-step comparison of the
//! two: requests, events, the deadline, the token handed out and the status after every input.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

use servicenow_auth::{
    Event, LoginFailure, Output, ReauthorizationReason, RequestId, Timestamp, TokenId, TokenSet,
};
use servicenow_testkit::form;

use crate::model::{
    Announced, Expected, LoginFailureKind, Reason, RefreshView, Request, SetView, StatusView, Step,
    TokenAnswer,
};
use crate::world::{Invariant, World};

/// One output of the machine, with its token ids still the machine's.
#[derive(Debug)]
pub(crate) enum Observed {
    Plain(Expected),
    TokenReady {
        id: TokenId,
        usable_until: Timestamp,
    },
    LoginCompleted {
        id: TokenId,
    },
}

/// The pairing of the machine's token ids with the model's token numbers: one to one.
#[derive(Default)]
pub(crate) struct TokenIds {
    forward: BTreeMap<TokenId, u64>,
    backward: BTreeMap<u64, TokenId>,
}

impl TokenIds {
    /// Whether `id` and `number` name the same token (pairing them if neither is paired yet).
    fn pair(&mut self, id: TokenId, number: u64) -> bool {
        match (self.forward.get(&id), self.backward.get(&number)) {
            (Some(known), _) => *known == number,
            (None, Some(_)) => false,
            (None, None) => {
                self.forward.insert(id, number);
                self.backward.insert(number, id);
                true
            }
        }
    }

    /// The model's number of a machine token id (`u64::MAX` if the model never saw it).
    pub(crate) fn number(&self, id: TokenId) -> u64 {
        self.forward.get(&id).copied().unwrap_or(u64::MAX)
    }
}

/// The combinations where bugs live, counted from the model's state when each input arrives.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Combinations {
    /// A 401 for the current token while its refresh is in flight.
    pub(crate) unauthorized_during_refresh: usize,
    /// After a rotated refresh token, an answer to a request the machine no longer waits for.
    pub(crate) stale_answer_after_rotation: usize,
    /// A refresh whose refresh token expired while it was in flight, answered or timed out.
    pub(crate) refresh_token_expired_during_request: usize,
    /// A logout while a refresh is in flight.
    pub(crate) logout_during_refresh: usize,
    /// A restore while a refresh or acquisition is in flight (its answer must be dropped).
    pub(crate) restore_during_token_request: usize,
    /// An accepted login callback while a refresh or acquisition is in flight.
    pub(crate) login_during_token_request: usize,
    /// `EnsureFresh` while an acquisition is in flight and no token is held.
    pub(crate) ensure_fresh_during_acquisition: usize,
    /// `EnsureFresh` itself sending a refresh that had fallen due (no `Timeout` first).
    pub(crate) due_refresh_sent_by_ensure_fresh: usize,
    /// A refresh or acquisition succeeding after transient failures.
    pub(crate) success_after_backoff: usize,
    /// A transient failure whose `Retry-After` was longer than the backoff step.
    pub(crate) retry_after_honoured: usize,
    /// Refresh answers that rotated the refresh token (restores and logins are not rotations).
    pub(crate) rotations: usize,
}

impl Combinations {
    pub(crate) fn add(&mut self, other: &Self) {
        for (total, count) in self.counts_mut().into_iter().zip(other.counts()) {
            *total += count;
        }
    }

    pub(crate) fn counts(&self) -> [usize; 11] {
        [
            self.unauthorized_during_refresh,
            self.stale_answer_after_rotation,
            self.refresh_token_expired_during_request,
            self.logout_during_refresh,
            self.restore_during_token_request,
            self.login_during_token_request,
            self.ensure_fresh_during_acquisition,
            self.due_refresh_sent_by_ensure_fresh,
            self.success_after_backoff,
            self.retry_after_honoured,
            self.rotations,
        ]
    }

    fn counts_mut(&mut self) -> [&mut usize; 11] {
        [
            &mut self.unauthorized_during_refresh,
            &mut self.stale_answer_after_rotation,
            &mut self.refresh_token_expired_during_request,
            &mut self.logout_during_refresh,
            &mut self.restore_during_token_request,
            &mut self.login_during_token_request,
            &mut self.ensure_fresh_during_acquisition,
            &mut self.due_refresh_sent_by_ensure_fresh,
            &mut self.success_after_backoff,
            &mut self.retry_after_honoured,
            &mut self.rotations,
        ]
    }

    pub(crate) const NAMES: [&'static str; 11] = [
        "401 while a refresh is in flight",
        "stale or duplicate answer after a rotation",
        "refresh token expired during its refresh",
        "logout during a refresh",
        "restore during a token request",
        "login callback during a token request",
        "EnsureFresh during an acquisition",
        "due refresh sent by EnsureFresh alone",
        "success after backoff",
        "Retry-After longer than the backoff step",
        "refresh token rotations",
    ];
}

/// The request in the model's terms.
pub(crate) fn observe_request(request: &http::Request<Bytes>) -> Request {
    let body = form(request.body());
    if request.uri().path() == "/oauth_revoke_token.do" {
        let query = form(request.uri().query().unwrap_or("").as_bytes());
        let token = body.get("token").or_else(|| query.get("token"));
        return Request::Revoke {
            token: token.cloned().unwrap_or_default(),
        };
    }
    let field = |name: &str| body.get(name).cloned().unwrap_or_default();
    match field("grant_type").as_str() {
        "authorization_code" => Request::Exchange {
            code: field("code"),
        },
        "refresh_token" => Request::Refresh {
            refresh_token: field("refresh_token"),
        },
        _ => Request::Acquire,
    }
}

pub(crate) fn set_view(set: &TokenSet) -> SetView {
    SetView {
        access: set.access_token().secret().to_owned(),
        obtained_at: set.obtained_at(),
        expires_at: set.access_token_expires_at(),
        refresh: set.refresh_token().map(|record| RefreshView {
            token: record.token().secret().to_owned(),
            first_issued_at: record.first_issued_at(),
            expires_at: record.expires_at(),
        }),
    }
}

/// What a response means to a token endpoint client (RFC 6749 §5) and whether it is a 2xx.
pub(crate) fn classify(response: &http::Response<Bytes>) -> (TokenAnswer, bool) {
    let status = response.status();
    let success = status.is_success();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
        .map(Duration::from_secs);
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        return (TokenAnswer::Transient { retry_after }, success);
    }
    if !success {
        return (TokenAnswer::Rejected, success);
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(response.body()) else {
        return (TokenAnswer::Transient { retry_after }, success);
    };
    let access = body.get("access_token").and_then(|value| value.as_str());
    let expires_in = body.get("expires_in").and_then(serde_json::Value::as_u64);
    match (access, expires_in) {
        (Some(access), Some(expires_in)) => (
            TokenAnswer::Issued {
                access: access.to_owned(),
                expires_in: Duration::from_secs(expires_in),
                refresh: body
                    .get("refresh_token")
                    .and_then(|value| value.as_str())
                    .map(str::to_owned),
            },
            success,
        ),
        _ => (TokenAnswer::Rejected, success),
    }
}

fn reason(reason: &ReauthorizationReason) -> Reason {
    match reason {
        ReauthorizationReason::NoTokenSet => Reason::NoTokenSet,
        ReauthorizationReason::NoRefreshToken => Reason::NoRefreshToken,
        ReauthorizationReason::RefreshTokenExpired => Reason::RefreshTokenExpired,
        ReauthorizationReason::RefreshRejected(_) => Reason::RefreshRejected,
        _ => Reason::GrantRejected,
    }
}

impl World {
    /// The output in the model's terms (before the world records it).
    pub(crate) fn observe(&self, output: &Output) -> Option<Observed> {
        let expected = match output {
            Output::HttpRequest { id, request } => Expected::Request {
                id: id.as_u64(),
                request: observe_request(request),
            },
            Output::Event(event) => match event {
                Event::LoginStarted(started) => Expected::LoginStarted {
                    login: self.logins.len(),
                    deadline: started.deadline,
                },
                Event::LoginFailed(failure) => Expected::LoginFailed(match failure {
                    LoginFailure::UnknownState | LoginFailure::Expired => {
                        LoginFailureKind::StateRefused
                    }
                    LoginFailure::AuthorizationDenied { .. } => LoginFailureKind::Denied,
                    LoginFailure::ExchangeRejected(_) => LoginFailureKind::ExchangeRejected,
                    LoginFailure::ExchangeFailed(_) => LoginFailureKind::ExchangeFailed,
                    _ => LoginFailureKind::Unexpected,
                }),
                Event::LoginCompleted { token_id } => {
                    return Some(Observed::LoginCompleted { id: *token_id });
                }
                Event::Persist(set) => Expected::Persist(set_view(set)),
                Event::TokenReady {
                    token_id,
                    usable_until,
                } => {
                    return Some(Observed::TokenReady {
                        id: *token_id,
                        usable_until: *usable_until,
                    });
                }
                Event::TokenRequestFailed { retry_at, .. } => Expected::TokenRequestFailed {
                    retry_at: *retry_at,
                },
                Event::ReauthorizationRequired { reason: why } => {
                    Expected::ReauthorizationRequired(reason(why))
                }
                Event::TokenSetDropped => Expected::TokenSetDropped,
                Event::LoggedOut(outcome) => Expected::LoggedOut {
                    refresh_token: outcome.refresh_token,
                    access_token: outcome.access_token,
                },
                _ => Expected::LoginFailed(LoginFailureKind::Unexpected),
            },
            _ => return None,
        };
        Some(Observed::Plain(expected))
    }

    /// Counts the combinations this input creates, from the model's state before it.
    pub(crate) fn count_combinations(&mut self, step: &Step) {
        use crate::model::Purpose;
        let model = &self.model;
        let flight = model.in_flight.as_ref().filter(|flight| !flight.superseded);
        let refreshing = flight.is_some_and(|flight| flight.purpose == Purpose::Refresh);
        let token_request = flight.is_some_and(|flight| flight.purpose != Purpose::Exchange);
        let seen = &mut self.combinations;
        match step {
            Step::Unauthorized(number) if refreshing && model.held_number() == Some(*number) => {
                seen.unauthorized_during_refresh += 1;
            }
            Step::Revoke if refreshing => seen.logout_during_refresh += 1,
            Step::Restore(_) if token_request => seen.restore_during_token_request += 1,
            Step::CallbackCode { login: Some(_), .. } if token_request => {
                seen.login_during_token_request += 1;
            }
            Step::EnsureFresh
                if model.held.is_none()
                    && flight.is_some_and(|flight| flight.purpose == Purpose::Acquire) =>
            {
                seen.ensure_fresh_during_acquisition += 1;
            }
            Step::Answer { request, .. } => {
                let awaited = flight.is_some_and(|flight| flight.id == *request);
                if !awaited && model.rotations > 0 {
                    seen.stale_answer_after_rotation += 1;
                }
            }
            _ => (),
        }
        let now = self.now;
        let expired_in_flight = flight
            .filter(|flight| flight.purpose == Purpose::Refresh)
            .and_then(|flight| flight.presented.as_ref().map(|record| (flight, record)))
            .is_some_and(|(flight, record)| {
                let ends = matches!(step, Step::Answer { request, .. } if *request == flight.id)
                    || now >= flight.deadline;
                ends && record.expires_at.is_some_and(|expiry| expiry <= now)
            });
        if expired_in_flight {
            self.combinations.refresh_token_expired_during_request += 1;
        }
    }

    /// Feeds `step` to the model with what the machine announced, and compares its prediction
    /// with what the machine did. Only the first divergence is reported.
    pub(crate) fn compare_with_model(&mut self, step: &Step, observed: Vec<Observed>) {
        self.count_combinations(step);
        let announced = Announced {
            refresh_at: self.machine.status(self.now).refresh_at,
            retry_at: observed.iter().find_map(|seen| match seen {
                Observed::Plain(Expected::TokenRequestFailed { retry_at }) => Some(*retry_at),
                _ => None,
            }),
        };
        let (rotations, recoveries) = (self.model.rotations, self.model.recoveries_after_failure);
        let expected = self.model.step(self.now, step, &announced);
        self.combinations.rotations += self.model.rotations - rotations;
        self.combinations.success_after_backoff += self.model.recoveries_after_failure - recoveries;
        if matches!(step, Step::EnsureFresh)
            && expected.iter().any(|output| {
                matches!(
                    output,
                    Expected::Request {
                        request: Request::Refresh { .. },
                        ..
                    }
                )
            })
        {
            self.combinations.due_refresh_sent_by_ensure_fresh += 1;
        }
        if let Step::Answer {
            token: TokenAnswer::Transient {
                retry_after: Some(wait),
            },
            ..
        } = step
        {
            if expected
                .iter()
                .any(|output| matches!(output, Expected::TokenRequestFailed { .. }))
                && *wait > Duration::from_secs(1)
            {
                self.combinations.retry_after_honoured += 1;
            }
        }
        self.last_expected = expected.clone();
        if self.diverged {
            return;
        }
        let mut problems = std::mem::take(&mut self.model.band_violations);
        let matched = observed.len() == expected.len()
            && observed
                .iter()
                .zip(&expected)
                .all(|(seen, wanted)| self.same(seen, wanted));
        if !matched {
            problems.push(format!(
                "after {step:?}\n  the machine did {observed:?}\n  the model expected {expected:?}"
            ));
        }
        if self.deadline != self.model.deadline() {
            problems.push(format!(
                "after {step:?} the machine asked to be woken at {:?}, the model at {:?}",
                self.deadline,
                self.model.deadline()
            ));
        }
        let handed = self.machine.access_token(self.now).map(|current| {
            (
                current.id,
                current.token.secret().to_owned(),
                current.usable_until,
            )
        });
        let wanted = self
            .model
            .hand_out()
            .map(|(number, access, until)| (number, access.to_owned(), until));
        let same_hand_out = match (handed.clone(), wanted.clone()) {
            (None, None) => true,
            (Some((id, access, until)), Some((number, wanted_access, wanted_until))) => {
                self.ids.pair(id, number) && access == wanted_access && until == wanted_until
            }
            _ => false,
        };
        if !same_hand_out {
            problems.push(format!(
                "after {step:?} the machine hands out {:?}, the model {:?}",
                handed.map(|(id, _, until)| (id, until)),
                wanted.map(|(number, _, until)| (number, until))
            ));
        }
        let status = self.machine.status(self.now);
        let seen_status = StatusView {
            has_token_set: status.has_token_set,
            token_request_in_flight: status.token_request_in_flight,
            refresh_due: status.refresh_due,
            retry_at: status.retry_at,
            reauthorization_required: status.reauthorization_required.as_ref().map(reason),
            pending_logins: status.pending_logins,
        };
        if seen_status != self.model.status() {
            problems.push(format!(
                "after {step:?} the machine's status is {seen_status:?}, the model's {:?}",
                self.model.status()
            ));
        }
        if !problems.is_empty() {
            self.diverged = true;
            self.violation(Invariant::MatchesModel, problems.join("\n"));
        }
    }

    fn same(&mut self, seen: &Observed, wanted: &Expected) -> bool {
        match (seen, wanted) {
            (Observed::Plain(seen), wanted) => seen == wanted,
            (
                Observed::TokenReady { id, usable_until },
                Expected::TokenReady {
                    token,
                    usable_until: wanted_until,
                },
            ) => usable_until == wanted_until && self.ids.pair(*id, *token),
            (Observed::LoginCompleted { id }, Expected::LoginCompleted { token }) => {
                self.ids.pair(*id, *token)
            }
            _ => false,
        }
    }

    /// The step of an answer to request `id`.
    pub(crate) fn answer_step(id: RequestId, response: &http::Response<Bytes>) -> Step {
        let (token, success) = classify(response);
        Step::Answer {
            request: id.as_u64(),
            token,
            success,
        }
    }
}
