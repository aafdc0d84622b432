//! The oracle of the `instance_url` fuzz target: instance URLs (`InstanceUrl::new`): whatever it accepts is an origin that parses back to itself.

use servicenow_oauth::InstanceUrl;

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match InstanceUrl::new(text) {
        Ok(instance) => {
            let origin = instance.origin();
            assert!(
                origin.starts_with("https://")
                    || (origin.starts_with("http://") && instance.is_loopback()),
                "accepted a non-https, non-loopback origin {origin:?}"
            );
            let uri: http::Uri = origin.parse().expect("an accepted origin is a valid uri");
            assert!(
                instance.same_origin(&uri),
                "an instance is not on its own origin: {origin:?}"
            );
            assert!(!origin.contains('@') && !origin.contains('?') && !origin.contains('#'));
            let again = InstanceUrl::new(origin).expect("an accepted origin is accepted again");
            assert_eq!(again.origin(), origin, "origin is not a fixed point");
            let _ = (
                instance.authorization_endpoint().as_str(),
                instance.token_endpoint().to_string(),
                instance.revocation_endpoint().to_string(),
            );
        }
        Err(error) => {
            let _ = (error.to_string(), format!("{error:?}"));
        }
    }
}
