//! The STS path: a token from the issuer becomes session credentials that
//! work on S3 for exactly what the policy grants that identity; a token it
//! did not sign is refused in STS's XML shape; a session's `AssumeRole`
//! hands out a child that can do no more than the parent and the policy
//! the parent asked for.

use aws_sdk_s3::error::ProvideErrorMetadata;
use jsonwebtoken::Header;

use crate::common::client::{Request, send, xml_tag};
use crate::common::config::Creds;
use crate::common::issuer::SigningKey;
use crate::stack::{POLICY, Stack, get, put};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/s3gate-builder";

fn creds_of(c: &aws_sdk_sts::types::Credentials) -> Creds {
    Creds {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: c.secret_access_key().to_owned(),
        session_token: Some(c.session_token().to_owned()),
    }
}

/// The S3 error code of a failed call, for comparing outcomes.
fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> Result<T, String> {
    result.map_err(|e| e.code().unwrap_or("?").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_identity_token_from_the_issuer_gets_credentials_that_work_on_s3() {
    let s = Stack::start(POLICY).await;
    let answer = s
        .sts(None)
        .assume_role_with_web_identity()
        .role_arn(ROLE_ARN)
        .role_session_name("ci")
        .web_identity_token(s.issuer.token("ci-bot"))
        .send()
        .await
        .expect("AssumeRoleWithWebIdentity with the issuer's token");
    assert_eq!(answer.subject_from_web_identity_token(), Some("ci-bot"));
    let creds = creds_of(answer.credentials().expect("credentials"));

    let bot = s.s3(&creds);
    put(&bot, "ci-bot/build.log", b"payload")
        .await
        .expect("a builder writes its own home");
    assert_eq!(
        s.stored("ci-bot/build.log").await.as_deref(),
        Some(&b"payload"[..])
    );
    assert_eq!(
        code(put(&bot, "alice/build.log", b"payload").await).map(|_| ()),
        Err("AccessDenied".into()),
        "another home is outside the grant"
    );
    assert_eq!(s.stored("alice/build.log").await, None);

    let line = s
        .audit_line("the exchange", |l| {
            l["api"] == "sts" && l["operation"] == "AssumeRoleWithWebIdentity"
        })
        .await;
    assert_eq!(line["decision"], "allow", "{line}");
    assert_eq!(
        line["identity"],
        format!("oidc:{}#ci-bot", s.issuer.url),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_issuer_did_not_sign_is_refused_with_invalid_identity_token() {
    let s = Stack::start(POLICY).await;
    // The issuer's claims and key id, signed with an attacker's key.
    let forged = SigningKey::generate("k1").sign(Header::default(), &s.issuer.claims("ci-bot"));

    let refused = s
        .sts(None)
        .assume_role_with_web_identity()
        .role_arn(ROLE_ARN)
        .role_session_name("ci")
        .web_identity_token(&forged)
        .send()
        .await
        .expect_err("a forged token gets no credentials")
        .into_service_error();
    assert!(refused.is_invalid_identity_token_exception(), "{refused:?}");

    // The same, as the wire shows it: STS's ErrorResponse, not S3's Error.
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", ROLE_ARN)
        .append_pair("RoleSessionName", "ci")
        .append_pair("WebIdentityToken", &forged)
        .finish();
    let answer = send(Request {
        method: "POST".into(),
        url: s.endpoint(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: form.into_bytes(),
    })
    .await;
    let xml = answer.text();
    assert_eq!(answer.status, 400, "{xml}");
    assert!(xml.contains("<ErrorResponse"), "{xml}");
    assert!(xml.contains("<Type>Sender</Type>"), "{xml}");
    assert_eq!(answer.code(), "InvalidIdentityToken", "{xml}");
    let request_id = xml_tag(&xml, "RequestId").expect("a RequestId");
    let line = s.audit_for(&request_id).await;
    assert_eq!(line["api"], "sts", "{line}");
    assert_eq!(line["decision"], "deny", "{line}");
    assert_eq!(line["error"], "InvalidIdentityToken", "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_hands_a_child_no_more_than_the_parent_and_its_policy() {
    let s = Stack::start(POLICY).await;
    let alice = s.mint("alice");
    s.put_stored("alice/shared/doc.txt", b"shared").await;
    s.put_stored("alice/private.txt", b"private").await;
    s.put_stored("bob/x.txt", b"bob's").await;

    // Read-only on alice's shared prefix, and (beyond alice's own reach)
    // everything in bob's: the child must get the first and never the second.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws:s3:::data/alice/shared/*", "arn:aws:s3:::data/bob/*"],
        }],
    });
    let answer = s
        .sts(Some(&alice))
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/agent")
        .role_session_name("agent-7")
        .policy(policy.to_string())
        .duration_seconds(900)
        .send()
        .await
        .expect("AssumeRole from alice's session");
    let child = s.s3(&creds_of(answer.credentials().expect("credentials")));

    assert_eq!(
        code(get(&child, "alice/shared/doc.txt").await),
        Ok(b"shared".to_vec())
    );
    assert_eq!(
        code(put(&child, "alice/shared/new.txt", b"new").await).map(|_| ()),
        Err("AccessDenied".into()),
        "the child asked for reading only"
    );
    assert_eq!(
        code(get(&child, "alice/private.txt").await),
        Err("AccessDenied".into()),
        "outside the prefix the child asked for"
    );
    assert_eq!(
        code(get(&child, "bob/x.txt").await),
        Err("AccessDenied".into()),
        "a child never gets what its parent lacks"
    );
    // The parent keeps what it had.
    put(&s.s3(&alice), "alice/shared/new.txt", b"new")
        .await
        .expect("alice still writes");
}
