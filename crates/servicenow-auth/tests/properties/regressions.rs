//! Failing cases the properties found, kept as named stories so that they run on every
//! `cargo test` whatever the case count and whatever the saved seeds.

use servicenow_testkit::RefreshTokenPolicy;

use crate::actions::{Action, AnswerKind, CommandKind, Scenario};
use crate::holds;
use crate::world::Invariant;

fn service(actions: Vec<Action>) -> Scenario {
    Scenario {
        client_credentials: true,
        jwt: false,
        access_token_lifetime_secs: 1800,
        refresh_token_lifetime_secs: None,
        policy: RefreshTokenPolicy::ReturnSame,
        seed: 0,
        actions,
    }
}

/// Found by the model: a caller's `EnsureFresh` while the first acquisition was in flight left
/// a wish for another one, so a second acquisition followed the first one's success.
#[test]
fn ensure_fresh_during_an_acquisition_asks_for_no_second_one() {
    let scenario = service(vec![
        Action::Command(CommandKind::Revoke),
        Action::Command(CommandKind::EnsureFresh),
        Action::Command(CommandKind::EnsureFresh),
        Action::Deliver {
            pick: usize::MAX,
            answer: AnswerKind::Rules,
        },
    ]);
    holds(Invariant::MatchesModel, &scenario).expect("the machine matches the model");
    holds(Invariant::SingleTokenRequestInFlight, &scenario).expect("one request at a time");
}
