//! Per-caller role sessions and several upstreams, against moto in auth
//! mode: s3gate assumes an IAM role for each caller with `sts:AssumeRole`
//! (moto's recorder shows exactly what was sent, since moto accepts but
//! does not enforce session policies), the store then checks the role's
//! own policy on the re-signed requests, and buckets route to different
//! stores through one gateway.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::audit::audit_lines;
use crate::client::{aws, clean_command, run, sdk, store_keys};
use crate::harness::{Creds, Gateway, Moto, REGION, harness, moto, random_bytes, unique_name};

/// The recorder is one switch for the whole moto: tests that read it take
/// turns, and each filters what it reads by a name only it uses.
static RECORDER: Mutex<()> = Mutex::new(());

/// moto's recorder, on while this lives.
struct Recording {
    _turn: MutexGuard<'static, ()>,
}

fn moto_api(method: &str, path: &str) -> String {
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "--fail", "-X", method])
        .arg(format!("{}{path}", moto().endpoint));
    run(cmd, Duration::from_secs(60)).ok().stdout
}

impl Recording {
    fn start() -> Recording {
        let turn = RECORDER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        moto_api("POST", "/moto-api/recorder/start-recording");
        Recording { _turn: turn }
    }

    /// Every request moto recorded, as (headers, body).
    fn requests(&self) -> Vec<(Value, Vec<u8>)> {
        moto_api("GET", "/moto-api/recorder/download-recording")
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|e| {
                let body = e["body"].as_str().unwrap_or("");
                let body = if e["body_encoded"].as_bool() == Some(true) {
                    base64::engine::general_purpose::STANDARD
                        .decode(body)
                        .unwrap_or_default()
                } else {
                    body.as_bytes().to_vec()
                };
                (e["headers"].clone(), body)
            })
            .collect()
    }

    /// The AssumeRole calls recorded for one role session name, each as its
    /// form parameters.
    fn assume_roles(&self, session_name: &str) -> Vec<Vec<(String, String)>> {
        self.requests()
            .into_iter()
            .map(|(_, body)| {
                form_urlencoded::parse(&body)
                    .into_owned()
                    .collect::<Vec<(String, String)>>()
            })
            .filter(|form| {
                let has = |k: &str, v: &str| form.iter().any(|(a, b)| a == k && b == v);
                has("Action", "AssumeRole") && has("RoleSessionName", session_name)
            })
            .collect()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        moto_api("POST", "/moto-api/recorder/stop-recording");
    }
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The `[upstream]` of a gateway in front of moto that runs every request
/// under a role session of `role_arn`.
fn moto_role_upstream(m: &Moto, role_arn: &str, extra: &str) -> String {
    format!(
        "[upstream]\nendpoint = \"{}\"\nregion = \"{REGION}\"\naddressing = \"path\"\n\n\
         [upstream.credentials]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\n\
         [upstream.assume_role]\nrole_arn = \"{role_arn}\"\nsts_endpoint = \"{}\"\n{extra}\n",
        m.endpoint, m.creds.access_key_id, m.creds.secret_access_key, m.endpoint,
    )
}

/// A bucket made directly on moto with the IAM user's keys.
fn moto_bucket(label: &str) -> String {
    let m = moto();
    let name = unique_name(label);
    harness().block_on(async {
        sdk(&m.endpoint, &m.creds)
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket on moto: {e:?}"));
    });
    name
}

fn moto_put(bucket: &str, key: &str, data: &[u8]) {
    let m = moto();
    harness().block_on(async {
        sdk(&m.endpoint, &m.creds)
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(data.to_vec().into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("direct PUT to moto: {e:?}"));
    });
}

fn moto_has(bucket: &str, key: &str) -> bool {
    let m = moto();
    harness().block_on(async {
        sdk(&m.endpoint, &m.creds)
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .is_ok()
    })
}

/// Writes `x` to `bucket/key` through the gateway; the S3 error as text.
fn put_x(gw: &Gateway, bucket: &str, creds: &Creds, key: &str) -> Result<(), String> {
    harness().block_on(async {
        sdk(&gw.endpoint(), creds)
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(b"x".to_vec().into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{:?}", e.into_service_error()))
    })
}

fn mint(gw: &Gateway, user: &str, scopes: &[String]) -> Creds {
    crate::harness::mint_with(&gw.config, user, scopes, "1h")
}

/// The audit lines of one minted user, waiting briefly for at least `n`.
fn audited(gw: &Gateway, user: &str, n: usize) -> Vec<Value> {
    // The audit names minted sessions as the policy does: `user:NAME`.
    let principal = format!("user:{user}");
    let find = || {
        audit_lines(gw)
            .into_iter()
            .filter(|l| l["identity"] == principal.as_str())
            .collect::<Vec<_>>()
    };
    crate::harness::wait_for(Duration::from_secs(3), || {
        let lines = find();
        (lines.len() >= n).then_some(lines)
    })
    .unwrap_or_else(find)
}

#[test]
fn assume_role_names_the_caller_and_carries_the_session_policy_generated_from_the_grants() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    let gw = h.gateway_with_upstreams(
        "gw-role",
        &moto_role_upstream(m, &m.writer_role_arn, "duration = \"20m\""),
    );
    let bucket = moto_bucket("role-params");
    let user = unique_name("alice");
    let home = format!("s3://{bucket}/home/{user}/*");
    let creds = mint(
        &gw,
        &user,
        &[format!("read,list={home}"), format!("s3:PutObject={home}")],
    );
    let dir = h.tempdir();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"hello from alice").unwrap();
    let key = format!("home/{user}/notes.txt");

    let recording = Recording::start();
    aws(
        &gw.endpoint(),
        &creds,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{bucket}/{key}"),
        ],
    )
    .ok();
    let back = dir.path().join("back.txt");
    aws(
        &gw.endpoint(),
        &creds,
        &[
            "s3",
            "cp",
            &format!("s3://{bucket}/{key}"),
            back.to_str().unwrap(),
        ],
    )
    .ok();
    let calls = recording.assume_roles(&user);
    drop(recording);

    // Under the role session, moto stored the object and served it back.
    assert!(moto_has(&bucket, &key));
    assert_eq!(std::fs::read(&back).unwrap(), b"hello from alice");

    // One AssumeRole for both requests (the second came from the cache).
    assert_eq!(calls.len(), 1, "AssumeRole calls for {user}: {calls:?}");
    let call = &calls[0];
    assert_eq!(param(call, "RoleArn"), m.writer_role_arn);
    assert_eq!(param(call, "RoleSessionName"), user);
    assert_eq!(param(call, "SourceIdentity"), user);
    assert_eq!(param(call, "DurationSeconds"), "1200");
    assert_eq!(param(call, "Tags.member.1.Key"), "s3gate:kind");
    assert_eq!(param(call, "Tags.member.1.Value"), "mint");
    assert_eq!(param(call, "Tags.member.2.Key"), "s3gate:name");
    assert_eq!(param(call, "Tags.member.2.Value"), user);
    let policy: Value = serde_json::from_str(param(call, "Policy"))
        .unwrap_or_else(|e| panic!("Policy is not JSON ({e}): {call:?}"));
    let objects = format!("arn:aws:s3:::{bucket}/home/{user}/*");
    assert_eq!(
        policy,
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObject",
                        "s3:GetObjectVersion",
                        "s3:ListMultipartUploadParts",
                        "s3:GetObjectTagging",
                        "s3:GetObjectAcl",
                        "s3:GetObjectAttributes",
                        "s3:GetObjectVersionTagging",
                        "s3:GetObjectVersionAcl",
                        "s3:GetObjectVersionAttributes"
                    ],
                    "Resource": objects
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                    "Resource": format!("arn:aws:s3:::{bucket}"),
                    "Condition": {"StringLike": {"s3:prefix": format!("home/{user}/*")}}
                },
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": objects}
            ]
        })
    );

    // The audit line names the role session the store saw.
    let role_name = m.writer_role_arn.rsplit('/').next().unwrap();
    let lines = audited(&gw, &user, 2);
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(
            line["upstream_role_session"].as_str().unwrap_or(""),
            format!("arn:aws:sts::123456789012:assumed-role/{role_name}/{user}"),
            "{line}"
        );
    }
}

#[test]
fn the_roles_own_policy_is_enforced_by_the_store_on_the_re_signed_requests() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    let gw = h.gateway_with_upstreams("gw-reader", &moto_role_upstream(m, &m.reader_role_arn, ""));
    let bucket = moto_bucket("role-reader");
    moto_put(&bucket, "in/present.txt", b"readable");
    let user = unique_name("reader");
    // The session may write; the role may not, so the store refuses.
    let creds = mint(&gw, &user, &[format!("*=s3://{bucket}/*")]);
    let client = sdk(&gw.endpoint(), &creds);

    h.block_on(async {
        let got = client
            .get_object()
            .bucket(&bucket)
            .key("in/present.txt")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET under the reader role: {e:?}"));
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(&body[..], b"readable");

        let err = client
            .put_object()
            .bucket(&bucket)
            .key("in/new.txt")
            .body(b"nope".to_vec().into())
            .send()
            .await
            .expect_err("PUT under a role without s3:PutObject must fail");
        let svc = err.into_service_error();
        assert_eq!(
            aws_sdk_s3::error::ProvideErrorMetadata::code(&svc),
            Some("AccessDenied"),
            "{svc:?}"
        );
    });
    assert!(!moto_has(&bucket, "in/new.txt"));
}

#[test]
fn a_burst_of_concurrent_first_requests_makes_one_assume_role() {
    needs_testbed!();
    const BURST: usize = 200;
    let m = moto();
    let h = harness();
    let gw = h.gateway_with_upstreams("gw-burst", &moto_role_upstream(m, &m.reader_role_arn, ""));
    let bucket = moto_bucket("role-burst");
    moto_put(&bucket, "k", b"burst");
    let user = unique_name("burst");
    let creds = mint(&gw, &user, &[format!("read=s3://{bucket}/*")]);
    let client = sdk(&gw.endpoint(), &creds);

    let recording = Recording::start();
    let ok = h.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..BURST {
            let client = client.clone();
            let bucket = bucket.clone();
            tasks.spawn(async move {
                let out = client.get_object().bucket(bucket).key("k").send().await?;
                let body = out.body.collect().await.map(|b| b.into_bytes());
                Ok::<_, aws_sdk_s3::Error>(body.map(|b| &b[..] == b"burst").unwrap_or(false))
            });
        }
        let mut ok = 0;
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(true) => ok += 1,
                Ok(false) => panic!("wrong body"),
                Err(e) => panic!("GET in the burst failed: {e:?}"),
            }
        }
        ok
    });
    let calls = recording.assume_roles(&user);
    drop(recording);
    assert_eq!(ok, BURST);
    assert_eq!(
        calls.len(),
        1,
        "{BURST} concurrent first requests made {} AssumeRole calls",
        calls.len()
    );

    // The metrics page counts the STS call and the cache hits that spared
    // the rest (process-wide counters: other tests only add to them).
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "--fail"])
        .arg(format!("{}/_s3gate/metrics", gw.endpoint()));
    let page = run(cmd, Duration::from_secs(30)).ok().stdout;
    let value = |line: &str| -> u64 {
        page.lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{line}` in the metrics page:\n{page}"))
    };
    assert!(value("s3gate_sts_assume_role_total{result=\"ok\"}") >= 1);
    assert!(value("s3gate_credential_cache_total{result=\"hit\"}") >= 1);
}

#[test]
fn a_session_policy_over_the_sts_limit_is_refused_and_sts_is_never_asked() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    let gw = h.gateway_with_upstreams("gw-big", &moto_role_upstream(m, &m.writer_role_arn, ""));
    let bucket = moto_bucket("role-big");
    moto_put(&bucket, "user-000/documents/a", b"secret");
    let user = unique_name("big");
    let scopes: Vec<String> = (0..60)
        .map(|i| format!("s3:GetObject=s3://{bucket}/user-{i:03}/documents/*"))
        .collect();
    let creds = mint(&gw, &user, &scopes);

    let recording = Recording::start();
    let err = h.block_on(async {
        sdk(&gw.endpoint(), &creds)
            .get_object()
            .bucket(&bucket)
            .key("user-000/documents/a")
            .send()
            .await
            .expect_err("a request whose session policy is too large must fail")
    });
    let calls = recording.assume_roles(&user);
    drop(recording);
    let svc = err.into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&svc),
        Some("AccessDenied")
    );
    let message = aws_sdk_s3::error::ProvideErrorMetadata::message(&svc).unwrap_or("");
    assert!(message.contains("over STS's limit of 2048"), "{message}");
    assert!(calls.is_empty(), "{calls:?}");
    let lines = audited(&gw, &user, 1);
    assert_eq!(lines[0]["decision"], "deny", "{}", lines[0]);
}

#[test]
fn sts_unreachable_with_nothing_cached_answers_503_with_retry_after() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    // Port 1 on loopback: nothing listens, so every STS attempt fails fast.
    let upstream = format!(
        "[upstream]\nendpoint = \"{}\"\naddressing = \"path\"\n\n\
         [upstream.credentials]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\n\
         [upstream.assume_role]\nrole_arn = \"{}\"\nsts_endpoint = \"http://127.0.0.1:1\"\n",
        m.endpoint, m.creds.access_key_id, m.creds.secret_access_key, m.reader_role_arn,
    );
    let gw = h.gateway_with_upstreams("gw-nosts", &upstream);
    let bucket = moto_bucket("role-nosts");
    moto_put(&bucket, "k", b"x");
    let creds = mint(
        &gw,
        &unique_name("nosts"),
        &[format!("read=s3://{bucket}/*")],
    );
    let err = h.block_on(async {
        sdk(&gw.endpoint(), &creds)
            .get_object()
            .bucket(&bucket)
            .key("k")
            .send()
            .await
            .expect_err("no STS, no credentials, no access")
    });
    let raw = err.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 503);
    let retry_after: u64 = raw
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let svc = err.into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&svc),
        Some("ServiceUnavailable")
    );
}

#[test]
fn two_buckets_route_to_two_upstreams_through_one_gateway() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    let store_bucket = h.bucket("route-store");
    let moto_bucket = moto_bucket("route-moto");
    let upstreams = format!(
        "[upstream]\nendpoint = \"{}\"\naddressing = \"path\"\n\n\
         [upstream.credentials]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\n\
         [[upstreams]]\nname = \"moto\"\nendpoint = \"{}\"\nregion = \"eu-west-1\"\n\
         buckets = [\"{moto_bucket}\"]\n\n\
         [upstreams.credentials]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\n\
         [upstreams.assume_role]\nrole_arn = \"{}\"\nsts_endpoint = \"{}\"\n",
        h.store.endpoint(),
        h.store.creds.access_key_id,
        h.store.creds.secret_access_key,
        m.endpoint,
        m.creds.access_key_id,
        m.creds.secret_access_key,
        m.writer_role_arn,
        m.endpoint,
    );
    let gw = h.gateway_with_upstreams("gw-route", &upstreams);
    let user = unique_name("router");
    let mut scopes = crate::harness::bucket_scope("read,write,list", &store_bucket.name);
    scopes.extend(crate::harness::bucket_scope(
        "read,write,list",
        &moto_bucket,
    ));
    scopes.push("s3:ListAllMyBuckets=s3://".into());
    let creds = mint(&gw, &user, &scopes);
    let dir = h.tempdir();
    let file = dir.path().join("f.bin");
    std::fs::write(&file, random_bytes(3000)).unwrap();

    let recording = Recording::start();
    for bucket in [&store_bucket.name, &moto_bucket] {
        aws(
            &gw.endpoint(),
            &creds,
            &[
                "s3",
                "cp",
                file.to_str().unwrap(),
                &format!("s3://{bucket}/routed.bin"),
            ],
        )
        .ok();
    }
    let requests = recording.requests();
    let assumed = recording.assume_roles(&user);
    drop(recording);

    // Each object is in its own store, and only there.
    assert_eq!(store_keys(&store_bucket.name), ["routed.bin"]);
    assert!(moto_has(&moto_bucket, "routed.bin"));
    assert!(!store_bucket_exists(&moto_bucket));
    // The moto bucket went through a role session (the store's did not
    // need one), signed for the moto upstream's region.
    assert_eq!(assumed.len(), 1, "{assumed:?}");
    let put = requests
        .iter()
        .find(|(headers, _)| {
            headers["Authorization"]
                .as_str()
                .is_some_and(|a| a.contains("/eu-west-1/s3/aws4_request"))
        })
        .expect("a request to moto signed for eu-west-1");
    assert!(put.0["X-Amz-Security-Token"].is_string(), "{}", put.0);

    // A copy between the two stores cannot work (moto does not hold the
    // source): refused, saying why, and nothing is written.
    let refused = aws(
        &gw.endpoint(),
        &creds,
        &[
            "s3api",
            "copy-object",
            "--bucket",
            &moto_bucket,
            "--key",
            "copied.bin",
            "--copy-source",
            &format!("{}/routed.bin", store_bucket.name),
        ],
    )
    .failed();
    assert!(
        refused.contains("InvalidRequest") && refused.contains("copy across stores"),
        "{refused}"
    );
    assert!(!moto_has(&moto_bucket, "copied.bin"));

    // ListBuckets has no bucket: it goes to the default upstream.
    let listed = aws(&gw.endpoint(), &creds, &["s3api", "list-buckets"]).ok();
    assert!(
        listed.stdout.contains(&store_bucket.name),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains(&moto_bucket), "{}", listed.stdout);

    let lines = audited(&gw, &user, 3);
    let upstream_of = |bucket: &str| {
        lines
            .iter()
            .find(|l| l["bucket"] == bucket)
            .map(|l| l["upstream"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(upstream_of(&store_bucket.name).as_deref(), Some("default"));
    assert_eq!(upstream_of(&moto_bucket).as_deref(), Some("moto"));
}

fn store_bucket_exists(bucket: &str) -> bool {
    harness().store.root.join(bucket).exists()
}

/// A TCP relay to moto that the test can cut, connections and all: STS
/// going away under a running gateway.
struct Relay {
    addr: std::net::SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    /// Closed once the listener and every relayed connection are gone:
    /// each holds a sender.
    gone: std::sync::Mutex<tokio::sync::mpsc::Receiver<()>>,
}

impl Relay {
    fn start(target: &str) -> Relay {
        let target: std::net::SocketAddr = target.trim_start_matches("http://").parse().unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let (alive, gone) = tokio::sync::mpsc::channel::<()>(1);
        let listener = harness()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accept_rx = rx.clone();
        harness().spawn(async move {
            loop {
                let (mut inbound, _) = tokio::select! {
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    _ = accept_rx.changed() => return,
                };
                let mut conn_rx = rx.clone();
                let alive = alive.clone();
                tokio::spawn(async move {
                    let _alive = alive;
                    if *conn_rx.borrow_and_update() {
                        return;
                    }
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = conn_rx.changed() => {}
                    }
                });
            }
        });
        Relay {
            addr,
            stop,
            gone: std::sync::Mutex::new(gone),
        }
    }

    /// Closes the listener and every relayed connection, and returns once
    /// they are closed: a request sent after this cannot reach the target.
    fn cut(&self) {
        let _ = self.stop.send(true);
        let mut gone = self.gone.lock().unwrap();
        harness().block_on(async { while gone.recv().await.is_some() {} });
    }
}

#[test]
fn during_an_sts_outage_the_cached_role_session_keeps_serving() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    let relay = Relay::start(&m.endpoint);
    // A session is due for refresh 5 s after it was assumed (it lives 15
    // minutes), so the second request below asks STS again — and finds it
    // gone.
    let upstream = format!(
        "[upstream]\nendpoint = \"{}\"\naddressing = \"path\"\n\n\
         [upstream.credentials]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\n\
         [upstream.assume_role]\nrole_arn = \"{}\"\nsts_endpoint = \"http://{}\"\n\
         duration = \"15m\"\nrefresh_margin = \"895s\"\n",
        m.endpoint, m.creds.access_key_id, m.creds.secret_access_key, m.reader_role_arn, relay.addr,
    );
    let gw = h.gateway_with_upstreams("gw-outage", &upstream);
    let bucket = moto_bucket("role-outage");
    moto_put(&bucket, "k", b"still here");
    let user = unique_name("outage");
    let creds = mint(&gw, &user, &[format!("read=s3://{bucket}/*")]);
    let client = sdk(&gw.endpoint(), &creds);
    let get = || {
        h.block_on(async {
            let out = client
                .get_object()
                .bucket(&bucket)
                .key("k")
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok::<_, String>(out.body.collect().await.unwrap().into_bytes().to_vec())
        })
    };

    let recording = Recording::start();
    assert_eq!(get().unwrap(), b"still here");
    // With STS up, a session past its refresh point is refreshed: a second
    // AssumeRole (so the outage below really is met by a refresh).
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(get().unwrap(), b"still here");
    assert_eq!(recording.assume_roles(&user).len(), 2);
    std::thread::sleep(Duration::from_secs(6));
    relay.cut();
    // STS is gone: the refresh fails, the cached session is still valid
    // for ~15 minutes, and the store accepts it.
    for _ in 0..3 {
        assert_eq!(
            get().unwrap_or_else(|e| panic!("GET during the outage: {e:?}")),
            b"still here"
        );
    }
    let calls = recording.assume_roles(&user);
    drop(recording);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let lines = audited(&gw, &user, 5);
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l["status"] == 200), "{lines:?}");
}

#[test]
fn two_callers_through_one_gateway_get_their_own_named_and_narrowed_role_sessions() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    let gw = h.gateway_with_upstreams("gw-two", &moto_role_upstream(m, &m.writer_role_arn, ""));
    let bucket = moto_bucket("role-two");
    let (alice, bob) = (unique_name("alice"), unique_name("bob"));
    let creds_of = |user: &str| mint(&gw, user, &[format!("read,write=s3://{bucket}/{user}/*")]);
    let (alice_creds, bob_creds) = (creds_of(&alice), creds_of(&bob));
    let put = |creds: &Creds, key: &str| put_x(&gw, &bucket, creds, key);

    let recording = Recording::start();
    put(&alice_creds, &format!("{alice}/a")).unwrap();
    put(&bob_creds, &format!("{bob}/b")).unwrap();
    // Each may write only under their own prefix.
    let denied = put(&alice_creds, &format!("{bob}/from-alice")).unwrap_err();
    assert!(denied.contains("AccessDenied"), "{denied}");
    let (alice_calls, bob_calls) = (recording.assume_roles(&alice), recording.assume_roles(&bob));
    drop(recording);

    assert!(moto_has(&bucket, &format!("{alice}/a")));
    assert!(moto_has(&bucket, &format!("{bob}/b")));
    assert!(!moto_has(&bucket, &format!("{bob}/from-alice")));
    for (user, calls) in [(&alice, &alice_calls), (&bob, &bob_calls)] {
        assert_eq!(calls.len(), 1, "{user}: {calls:?}");
        assert_eq!(param(&calls[0], "SourceIdentity"), user.as_str());
        let policy = param(&calls[0], "Policy");
        assert!(
            policy.contains(&format!("arn:aws:s3:::{bucket}/{user}/*")),
            "{user}: {policy}"
        );
        let other = if user == &alice { &bob } else { &alice };
        assert!(!policy.contains(other.as_str()), "{user}: {policy}");
    }
    let role_name = m.writer_role_arn.rsplit('/').next().unwrap();
    for user in [&alice, &bob] {
        let lines = audited(&gw, user, 1);
        assert_eq!(
            lines[0]["upstream_role_session"].as_str().unwrap_or(""),
            format!("arn:aws:sts::123456789012:assumed-role/{role_name}/{user}")
        );
    }
}

/// One person, two sessions minted with different scopes, their requests
/// interleaved: each runs under a role session narrowed to its own
/// session's scope. The gateway remembers the last role session a caller
/// got; the other session's next request (same person, same role, another
/// grant) must not be served it.
#[test]
fn one_callers_two_sessions_with_different_scopes_get_their_own_role_sessions() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    let gw = h.gateway_with_upstreams("gw-scopes", &moto_role_upstream(m, &m.writer_role_arn, ""));
    let bucket = moto_bucket("role-scopes");
    let user = unique_name("dana");
    let session_for = |part: &str| {
        mint(
            &gw,
            &user,
            &[format!("read,write=s3://{bucket}/{user}/{part}/*")],
        )
    };
    let (a, b) = (session_for("a"), session_for("b"));
    let put = |creds: &Creds, key: &str| put_x(&gw, &bucket, creds, key);

    let recording = Recording::start();
    for round in 0..2 {
        put(&a, &format!("{user}/a/{round}")).unwrap();
        put(&b, &format!("{user}/b/{round}")).unwrap();
    }
    let calls = recording.assume_roles(&user);
    drop(recording);

    for round in 0..2 {
        assert!(moto_has(&bucket, &format!("{user}/a/{round}")));
        assert!(moto_has(&bucket, &format!("{user}/b/{round}")));
    }
    assert_eq!(calls.len(), 2, "one role session per scope: {calls:?}");
    let policies: Vec<&str> = calls.iter().map(|c| param(c, "Policy")).collect();
    for part in ["a", "b"] {
        let own = format!("arn:aws:s3:::{bucket}/{user}/{part}/*");
        let other = format!("{user}/{}/", if part == "a" { "b" } else { "a" });
        assert_eq!(
            policies
                .iter()
                .filter(|p| p.contains(&own) && !p.contains(&other))
                .count(),
            1,
            "{part}: {policies:?}"
        );
    }
}

/// A session's grants under a role are kept between its requests
/// (`gateway::phases::role_grants`): a policy reload must end that, so the
/// session's next request asks for a role session under the new grants.
#[test]
fn a_policy_reload_gives_a_live_sessions_next_request_a_role_session_under_the_new_grants() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    let gw = h.gateway_with_upstreams("gw-reload", &moto_role_upstream(m, &m.writer_role_arn, ""));
    let bucket = moto_bucket("role-reload");
    let user = unique_name("erin");
    let creds = mint(&gw, &user, &[format!("read,write=s3://{bucket}/*")]);
    let put = |key: &str| put_x(&gw, &bucket, &creds, key);

    let recording = Recording::start();
    put(&format!("{user}/open/0")).unwrap();
    put(&format!("{user}/open/1")).unwrap();
    let before = recording.assume_roles(&user);
    assert_eq!(
        before.len(),
        1,
        "one role session for the open policy: {before:?}"
    );
    assert!(
        param(&before[0], "Policy").contains(&format!("arn:aws:s3:::{bucket}/*")),
        "{before:?}"
    );

    // The policy now grants only the caller's `kept/` prefix.
    std::fs::write(
        &gw.policy,
        format!(
            "[[grant]]\nid = \"kept\"\nprincipals = [\"*\"]\nactions = [\"read\", \"write\"]\n\
             resources = [\"s3://{bucket}/{user}/kept/*\"]\n"
        ),
    )
    .unwrap();
    crate::harness::wait_for(Duration::from_secs(5), || {
        put(&format!("{user}/open/2")).is_err().then_some(())
    })
    .expect("the new policy still allows the old grant after 5 s");
    put(&format!("{user}/kept/0")).unwrap();
    let calls = recording.assume_roles(&user);
    drop(recording);

    assert!(moto_has(&bucket, &format!("{user}/kept/0")));
    assert_eq!(
        calls.len(),
        2,
        "a new role session after the reload: {calls:?}"
    );
    let policy = param(&calls[1], "Policy");
    assert!(
        policy.contains(&format!("arn:aws:s3:::{bucket}/{user}/kept/*"))
            && !policy.contains(&format!("arn:aws:s3:::{bucket}/*\"")),
        "{policy}"
    );
}

#[test]
fn anonymous_reads_run_under_a_role_session_narrowed_to_the_public_grant() {
    needs_testbed!();
    let m = moto();
    let h = harness();
    let gw = h.gateway_with_upstreams("gw-anon", &moto_role_upstream(m, &m.writer_role_arn, ""));
    let bucket = moto_bucket("anon-role");
    moto_put(&bucket, "public/a.txt", b"for everyone");
    moto_put(&bucket, "private/b.txt", b"not for everyone");
    // The public grant, beside a `*` grant of everything (which must not
    // reach anonymous, nor its role session).
    std::fs::write(&gw.policy, crate::anonymous::public_policy(&bucket)).unwrap();
    let url = |key: &str| format!("{}/{bucket}/{key}", gw.endpoint());

    let recording = Recording::start();
    let got = crate::harness::wait_for(Duration::from_secs(10), || {
        let (status, body) = crate::client::curl("GET", &url("public/a.txt"), None);
        (status == 200).then_some(body)
    })
    .expect("the public object is served once the policy has reloaded");
    assert_eq!(got, b"for everyone");
    let (status, _) = crate::client::curl("GET", &url("private/b.txt"), None);
    assert_eq!(status, 403);
    let calls = recording.assume_roles("anonymous");
    drop(recording);

    assert_eq!(calls.len(), 1, "AssumeRole calls for anonymous: {calls:?}");
    let call = &calls[0];
    assert_eq!(param(call, "RoleArn"), m.writer_role_arn);
    assert_eq!(param(call, "SourceIdentity"), "anonymous");
    let policy: Value = serde_json::from_str(param(call, "Policy"))
        .unwrap_or_else(|e| panic!("Policy is not JSON ({e}): {call:?}"));
    // The store holds the role to the public prefix, read-only.
    let text = policy.to_string();
    assert!(
        text.contains(&format!("arn:aws:s3:::{bucket}/public/*")),
        "{policy}"
    );
    for wider in ["Put", "Delete", "private", "arn:aws:s3:::*", "\"s3:*\""] {
        assert!(!text.contains(wider), "{wider} in {policy}");
    }
}
