//! The S3 path: what a session may do is what the policy grants, byte-exact
//! on the store; everything else is refused in S3's shape, and every
//! request leaves an audit line.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::random::random_bytes;
use crate::stack::{BUCKET, POLICY, Stack, get, put};

/// An SDK call's S3 error: (code, message, request id).
fn refusal<T: std::fmt::Debug, E>(result: Result<T, E>) -> (String, String, String)
where
    E: ProvideErrorMetadata + RequestId,
{
    let err = result.expect_err("the gateway refused nothing");
    (
        err.code().unwrap_or_default().to_owned(),
        err.message().unwrap_or_default().to_owned(),
        err.request_id().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_list_copy_delete_inside_the_grant_reach_the_store() {
    let s = Stack::start(POLICY).await;
    let alice = s.s3(&s.mint("alice"));
    let data = random_bytes(100_000);

    put(&alice, "alice/a.bin", &data)
        .await
        .expect("put inside the grant");
    assert_eq!(s.stored("alice/a.bin").await.as_deref(), Some(&data[..]));
    let got = get(&alice, "alice/a.bin")
        .await
        .expect("get inside the grant");
    assert_eq!(got, data);

    alice
        .copy_object()
        .bucket(BUCKET)
        .key("alice/b.bin")
        .copy_source("data/alice/a.bin")
        .send()
        .await
        .expect("copy inside the grant");
    assert_eq!(s.stored("alice/b.bin").await.as_deref(), Some(&data[..]));

    let listed = alice
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("alice/")
        .send()
        .await
        .expect("list inside the grant");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["alice/a.bin", "alice/b.bin"]);

    alice
        .delete_object()
        .bucket(BUCKET)
        .key("alice/a.bin")
        .send()
        .await
        .expect("delete inside the grant");
    assert_eq!(s.stored("alice/a.bin").await, None);
    assert!(s.stored("alice/b.bin").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_inside_the_grant_is_assembled_byte_exact_on_the_store() {
    let s = Stack::start(POLICY).await;
    let alice = s.s3(&s.mint("alice"));
    // Every part but the last must be at least 5 MiB.
    let first = random_bytes(5 * 1024 * 1024);
    let last = random_bytes(123_457);

    let upload = alice
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("alice/big.bin")
        .send()
        .await
        .expect("create the upload");
    let id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, &first), (2, &last)] {
        let part = alice
            .upload_part()
            .bucket(BUCKET)
            .key("alice/big.bin")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"));
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    alice
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("alice/big.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete the upload");

    let stored = s.stored("alice/big.bin").await.expect("assembled");
    assert_eq!(stored.len(), first.len() + last.len());
    assert!(stored[..first.len()] == first[..] && stored[first.len()..] == last[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_grant_is_access_denied_naming_the_action_and_nothing_is_stored() {
    let s = Stack::start(POLICY).await;
    let alice = s.s3(&s.mint("alice"));

    let (code, message, _) = refusal(put(&alice, "bob/x.txt", b"not hers").await);
    assert_eq!(code, "AccessDenied");
    assert!(
        message.contains("s3:PutObject") && message.contains("s3://data/bob/x.txt"),
        "the refusal names the action and the object: {message}"
    );
    assert!(message.contains("user:alice"), "and for whom: {message}");
    assert_eq!(s.stored("bob/x.txt").await, None);

    // A copy reads its source: one outside the grant refuses the copy.
    s.put_stored("bob/secret.txt", b"bob's").await;
    let copy = alice
        .copy_object()
        .bucket(BUCKET)
        .key("alice/stolen.txt")
        .copy_source("data/bob/secret.txt")
        .send()
        .await;
    let (code, message, _) = refusal(copy);
    assert_eq!(code, "AccessDenied");
    assert!(
        message.contains("s3:GetObject") && message.contains("s3://data/bob/secret.txt"),
        "the refusal names the copy source: {message}"
    );
    assert_eq!(s.stored("alice/stolen.txt").await, None);

    // Listing the whole bucket reaches beyond her prefix.
    let (code, message, _) = refusal(alice.list_objects_v2().bucket(BUCKET).send().await);
    assert_eq!(code, "AccessDenied");
    assert!(message.contains("s3:ListBucket"), "{message}");

    // Another user holds no grant at all.
    let mallory = s.s3(&s.mint("mallory"));
    let (code, _, _) = refusal(get(&mallory, "alice/a.bin").await);
    assert_eq!(code, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_signature_does_not_match_and_nothing_is_stored() {
    let s = Stack::start(POLICY).await;
    let mut creds = s.mint("alice");
    creds.secret_access_key = "A".repeat(40);
    let (code, _, _) = refusal(put(&s.s3(&creds), "alice/forged.txt", b"forged").await);
    assert_eq!(code, "SignatureDoesNotMatch");
    assert_eq!(s.stored("alice/forged.txt").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused_with_expired_token() {
    let s = Stack::start(POLICY).await;
    let two_hours_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
    let creds = s.mint_at("alice", two_hours_ago, Duration::from_secs(3600));
    let (code, _, _) = refusal(put(&s.s3(&creds), "alice/late.txt", b"late").await);
    assert_eq!(code, "ExpiredToken");
    assert_eq!(s.stored("alice/late.txt").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_and_denied_requests_each_leave_an_audit_line() {
    let s = Stack::start(POLICY).await;
    let creds = s.mint("alice");
    let alice = s.s3(&creds);

    let kept = put(&alice, "alice/kept.txt", b"12345")
        .await
        .expect("put inside the grant");
    let allowed = s.audit_for(kept.request_id().unwrap()).await;
    assert_eq!(allowed["api"], "s3", "{allowed}");
    assert_eq!(allowed["identity"], "user:alice", "{allowed}");
    assert_eq!(allowed["operation"], "PutObject", "{allowed}");
    assert_eq!(allowed["bucket"], BUCKET, "{allowed}");
    assert_eq!(allowed["key"], "alice/kept.txt", "{allowed}");
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(allowed["rule"], "alice-home", "{allowed}");
    assert_eq!(allowed["status"], 200, "{allowed}");
    assert_eq!(allowed["bytes_in"], 5, "{allowed}");

    let (_, _, request_id) = refusal(get(&alice, "bob/secret.txt").await);
    let denied = s.audit_for(&request_id).await;
    assert_eq!(denied["identity"], "user:alice", "{denied}");
    assert_eq!(denied["operation"], "GetObject", "{denied}");
    assert_eq!(denied["key"], "bob/secret.txt", "{denied}");
    assert_eq!(denied["decision"], "deny", "{denied}");
    assert_eq!(denied["rule"], "no grant", "{denied}");
    assert_eq!(denied["status"], 403, "{denied}");

    // No line carries the session's secrets.
    let text = std::fs::read_to_string(&s.audit).unwrap();
    assert!(!text.contains(&creds.secret_access_key));
    assert!(!text.contains(creds.session_token.as_deref().unwrap()));
}
