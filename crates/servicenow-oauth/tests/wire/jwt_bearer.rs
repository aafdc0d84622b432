//! The JWT bearer grant (RFC 7523): the exact token request, signed assertions with a fixed key,
//! clock and `jti` generator, signatures that verify with the public key, a fresh `jti` for every
//! assertion, and key errors that name the problem without echoing the key.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use servicenow_oauth::{
    AssertionSigner, ClientAuthMethod, ClientId, ClientSecret, Error, JwsAlgorithm, JwtAssertion,
    JwtAudience, JwtBearer, OAuthClient, PemSigner, ScopeSet, TokenGrant, token_request,
};

use crate::support::{form_pairs, instance, render, seeded_rng};

const RS256_KEY: &str = include_str!("../keys/rs256-test-key.pem");
const RS256_PUBLIC_KEY: &str = include_str!("../keys/rs256-test-key.pub.pem");
const ES256_KEY: &str = include_str!("../keys/es256-test-key.pem");
const ES256_PUBLIC_KEY: &str = include_str!("../keys/es256-test-key.pub.pem");

/// The fixed clock of every snapshot: 2023-11-14T22:13:20Z.
const NOW: u64 = 1_700_000_000;

fn client() -> OAuthClient {
    OAuthClient::confidential(
        ClientId::new("3f2a9c-jwt-client").unwrap(),
        ClientSecret::new("jwt-client-secret").unwrap(),
    )
}

fn bearer(pem: &str, kid: &str) -> JwtBearer {
    let signer = PemSigner::from_pem(pem, Some(kid.to_owned())).unwrap();
    JwtBearer::new("integration@example.com", Arc::new(signer)).unwrap()
}

/// The header and claims of a compact JWT, decoded, and its signature bytes.
fn decode(assertion: &JwtAssertion) -> (serde_json::Value, serde_json::Value, Vec<u8>) {
    let parts: Vec<&str> = assertion.secret().split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts");
    let json = |part: &str| -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    (
        json(parts[0]),
        json(parts[1]),
        URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
    )
}

fn signing_input(assertion: &JwtAssertion) -> &str {
    let text = assertion.secret();
    &text[..text.rfind('.').unwrap()]
}

#[test]
fn jwt_bearer_with_client_secret_post() {
    let client = client();
    let assertion = bearer(RS256_KEY, "test-rs256")
        .assertion(&client.client_id, NOW, &mut seeded_rng())
        .unwrap();
    let request = token_request(
        &instance(),
        &client,
        &TokenGrant::JwtBearer {
            assertion: &assertion,
            scope: None,
        },
    )
    .unwrap();
    insta::assert_snapshot!(render(&request));
    let pairs = form_pairs(&request);
    assert_eq!(
        pairs[0],
        (
            "grant_type".to_owned(),
            "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()
        )
    );
    assert_eq!(pairs[1].0, "assertion");
    assert_eq!(pairs[1].1, assertion.secret());
}

#[test]
fn jwt_bearer_with_client_secret_basic_and_a_scope() {
    let client = client().with_auth_method(ClientAuthMethod::ClientSecretBasic);
    let assertion = bearer(ES256_KEY, "test-es256")
        .assertion(&client.client_id, NOW, &mut seeded_rng())
        .unwrap();
    let scope = ScopeSet::parse("useraccount").unwrap();
    let request = token_request(
        &instance(),
        &client,
        &TokenGrant::JwtBearer {
            assertion: &assertion,
            scope: Some(&scope),
        },
    )
    .unwrap();
    insta::assert_snapshot!(render(&request));
}

#[test]
fn a_signed_rs256_assertion_with_a_fixed_key_clock_and_jti() {
    let client = client();
    let assertion = bearer(RS256_KEY, "test-rs256")
        .assertion(&client.client_id, NOW, &mut seeded_rng())
        .unwrap();
    let (header, claims, signature) = decode(&assertion);
    insta::assert_snapshot!(format!(
        "{}\n\nheader: {header}\nclaims: {claims}",
        assertion.secret()
    ));
    let public = rsa::RsaPublicKey::from_public_key_pem(RS256_PUBLIC_KEY).unwrap();
    let verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
    let signature = rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap();
    rsa::signature::Verifier::verify(&verifier, signing_input(&assertion).as_bytes(), &signature)
        .expect("the RS256 signature verifies with the public key");
}

#[test]
fn a_signed_es256_assertion_with_a_fixed_key_clock_and_jti() {
    let client = client();
    let assertion = bearer(ES256_KEY, "test-es256")
        .with_audience(JwtAudience::Custom(
            "https://example.service-now.com/oauth_token.do".to_owned(),
        ))
        .assertion(&client.client_id, NOW, &mut seeded_rng())
        .unwrap();
    let (header, claims, signature) = decode(&assertion);
    insta::assert_snapshot!(format!(
        "{}\n\nheader: {header}\nclaims: {claims}",
        assertion.secret()
    ));
    assert_eq!(signature.len(), 64, "ES256 signatures are r || s");
    let public = p256::ecdsa::VerifyingKey::from_public_key_pem(ES256_PUBLIC_KEY).unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    public
        .verify(signing_input(&assertion).as_bytes(), &signature)
        .expect("the ES256 signature verifies with the public key");
}

#[test]
fn every_assertion_has_a_new_jti_and_its_own_iat_and_exp() {
    let client = client();
    let bearer = bearer(RS256_KEY, "test-rs256");
    let mut rng = seeded_rng();
    let first = decode(&bearer.assertion(&client.client_id, NOW, &mut rng).unwrap()).1;
    let second = decode(
        &bearer
            .assertion(&client.client_id, NOW + 1, &mut rng)
            .unwrap(),
    )
    .1;
    assert_ne!(first["jti"], second["jti"]);
    assert_eq!(first["iat"], NOW);
    assert_eq!(first["exp"], NOW + 60);
    assert_eq!(second["iat"], NOW + 1);
    let jti = first["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 36, "a UUID: {jti}");
    assert_eq!(&jti[14..15], "4", "version 4: {jti}");
    assert_eq!(
        first["iss"], "3f2a9c-jwt-client",
        "iss defaults to the client id"
    );
    assert_eq!(
        first["aud"], "3f2a9c-jwt-client",
        "aud defaults to the client id"
    );
    assert_eq!(first["sub"], "integration@example.com");
}

#[test]
fn the_algorithm_follows_the_key_and_kid_is_optional() {
    let rsa = PemSigner::from_pem(RS256_KEY, None).unwrap();
    let ec = PemSigner::from_pem(ES256_KEY, Some("k1".to_owned())).unwrap();
    assert_eq!(rsa.algorithm(), JwsAlgorithm::Rs256);
    assert_eq!(ec.algorithm(), JwsAlgorithm::Es256);
    let client = client();
    let assertion = JwtBearer::new("admin", Arc::new(rsa))
        .unwrap()
        .assertion(&client.client_id, NOW, &mut seeded_rng())
        .unwrap();
    let (header, _, _) = decode(&assertion);
    assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
}

#[test]
fn unreadable_keys_are_refused_with_a_message_that_never_echoes_the_key() {
    let body_line = RS256_KEY.lines().nth(1).unwrap();
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let truncated: String =
        RS256_KEY.lines().take(5).collect::<Vec<_>>().join("\n") + "\n-----END PRIVATE KEY-----\n";
    let public_only = RS256_PUBLIC_KEY;
    for (pem, expected) in [
        ("not a key at all", "not a PEM private key"),
        (encrypted, "encrypted"),
        (truncated.as_str(), "neither RSA nor EC P-256"),
        (public_only, "not a private key"),
    ] {
        let error = PemSigner::from_pem(pem, None).unwrap_err();
        assert!(matches!(error, Error::SigningKey { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains(body_line), "{message}");
        assert!(!format!("{error:?}").contains(body_line));
    }
}

#[test]
fn the_signer_prints_its_algorithm_and_kid_but_never_its_key() {
    let signer = PemSigner::from_pem(RS256_KEY, Some("kid-1".to_owned())).unwrap();
    let printed = format!("{signer:?} {signer:#?}");
    assert!(
        printed.contains("Rs256") && printed.contains("kid-1"),
        "{printed}"
    );
    let bearer = JwtBearer::new("admin", Arc::new(signer)).unwrap();
    let printed = format!("{bearer:?}");
    for line in RS256_KEY.lines().skip(1).take(3) {
        assert!(!printed.contains(line), "{printed}");
    }
}
