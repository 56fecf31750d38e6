//! The sync server over HTTP, in process, against a real PostgreSQL: what workstations and
//! operators see — answers, refusals and their words, metrics, the OpenAPI document, several
//! instances on one database, long polls, and a graceful shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use labdesk_proto::sync::{
    BlobState, ErrorBody, Outcome, PullPage, PushRequest, PushResponse, WaitResponse, PROTOCOL_HEADER,
};
use labdesk_proto::{RecordKind, Revision};
use labdesk_server_database::{Identity, Role};
use labdesk_server_postgres::{PgOptions, PgStore};
use labdesk_sync::{app, AppState};
use labdesk_testkit::{block_on, provision_blocking, revision, Provisioned, TestPostgres, TestServer};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};
use tokio_postgres::NoTls;
use tower::ServiceExt;
use uuid::Uuid;

/// A server over a fresh database, and ann (North, FD1) to sync as.
struct Env {
    server: TestServer,
    ann: Provisioned,
    http: Client,
    db: TestPostgres,
}

fn env() -> Result<Env> {
    let db = TestPostgres::start()?;
    let server = TestServer::start(&db.url)?;
    let ann = provision_blocking(&db.url, "North", "ann", Role::Technician, "FD1")?;
    Ok(Env { server, ann, http: Client::builder().timeout(Duration::from_secs(60)).build()?, db })
}

impl Env {
    fn at(&self, server: &TestServer, path: &str) -> String {
        format!("{}{path}", server.url)
    }

    /// A /v1 request as a current workstation sends it.
    fn v1(&self, builder: RequestBuilder, token: &str) -> RequestBuilder {
        builder.header(PROTOCOL_HEADER, "1").bearer_auth(token)
    }

    fn push(&self, server: &TestServer, token: &str, revisions: Vec<Revision>) -> Result<Response> {
        Ok(self.v1(self.http.post(self.at(server, "/v1/push")), token).json(&PushRequest { revisions }).send()?)
    }

    fn pull(&self, server: &TestServer, token: &str, after: i64) -> Result<PullPage> {
        let response = self.v1(self.http.get(self.at(server, &format!("/v1/pull?after={after}"))), token).send()?;
        assert_eq!(response.status(), 200);
        Ok(response.json()?)
    }

    /// Runs one SQL query that returns one number.
    fn count(&self, sql: &'static str) -> Result<i64> {
        count(&self.db.url, sql)
    }

    /// A new case (the simplest record: it hangs on nothing), with `note` as its order note.
    fn new_case(&self, who: &Provisioned, note: &str) -> Revision {
        revision(
            RecordKind::Case,
            Uuid::now_v7(),
            None,
            &who.identity.user_name,
            &who.identity.workstation_code,
            json!({
                "case_number": format!("{}-{}", who.identity.workstation_code, &Uuid::now_v7().simple().to_string()[20..]),
                "secret_key": "0123456789abcdef0123456789abcdef", "status": "received", "priority": "medium",
                "patient_name": "Jane Roe", "author_id": who.identity.user_name, "order_note": note
            }),
        )
    }
}

/// An error answer: its status and body, checked to be an ErrorBody.
fn error_of(response: Response) -> Result<(StatusCode, ErrorBody)> {
    let status = StatusCode::from_u16(response.status().as_u16())?;
    Ok((status, response.json()?))
}

#[test]
fn a_push_is_answered_per_revision_and_comes_back_through_pull() -> Result<()> {
    let env = env()?;
    let created = env.new_case(&env.ann, "first");
    let edit =
        revision(RecordKind::Case, created.record_id, Some(created.id), "ann", "FD1", json!({"order_note": "second"}));
    let response = env.push(&env.server, &env.ann.token, vec![created.clone(), edit.clone()])?;
    assert_eq!(response.status(), 200);
    let answer: PushResponse = response.json()?;
    let outcomes: Vec<(Uuid, Outcome, Option<u32>)> =
        answer.results.iter().map(|r| (r.revision_id, r.outcome, r.version)).collect();
    assert_eq!(outcomes, [(created.id, Outcome::Applied, Some(1)), (edit.id, Outcome::Applied, Some(2))]);
    let page = env.pull(&env.server, &env.ann.token, 0)?;
    assert_eq!(page.revisions.iter().map(|r| r.revision.id).collect::<Vec<_>>(), [created.id, edit.id]);
    assert_eq!((page.more, page.next, page.head), (false, page.revisions[1].seq, page.revisions[1].seq));
    Ok(())
}

#[test]
fn a_workstation_of_the_first_release_pulls_no_kind_it_cannot_keep_and_the_server_names_its_kinds() -> Result<()> {
    let env = env()?;
    let case = env.new_case(&env.ann, "first");
    let setting = revision(
        RecordKind::Setting,
        Uuid::now_v7(),
        None,
        "ann",
        "FD1",
        json!({"key": "opening_hours", "value": "8-17"}),
    );
    let response = env.push(&env.server, &env.ann.token, vec![case.clone(), setting.clone()])?;
    let kinds = response.headers().get("labdesk-kinds").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(kinds.contains("case") && kinds.contains("setting"), "every answer names the server's kinds: {kinds}");
    assert_eq!(response.status(), 200);
    // A workstation of the first release sends no LabDesk-Kinds: it keeps the first kinds only.
    let old = env.pull(&env.server, &env.ann.token, 0)?;
    let ids: Vec<Uuid> = old.revisions.iter().map(|r| r.revision.id).collect();
    assert_eq!(ids, [case.id], "a kind it cannot read would make it refuse the whole page");
    assert!(!old.more && old.next == old.head, "its cursor moves past the setting all the same: {old:?}");
    // One that names its kinds gets them.
    let url = env.at(&env.server, "/v1/pull?after=0");
    let current: PullPage = env
        .v1(env.http.get(url), &env.ann.token)
        .header(labdesk_proto::KINDS_HEADER, labdesk_proto::kinds_header())
        .send()?
        .json()?;
    assert_eq!(current.revisions.len(), 2, "{current:?}");
    Ok(())
}

#[test]
fn a_workstation_without_a_protocol_version_or_too_old_is_told_to_update_and_nothing_changes() -> Result<()> {
    let env = env()?;
    let body = PushRequest { revisions: vec![env.new_case(&env.ann, "x")] };
    let missing = env.http.post(env.at(&env.server, "/v1/push")).bearer_auth(&env.ann.token).json(&body).send()?;
    assert_eq!(missing.headers().get("upgrade").map(|v| v.to_str().unwrap_or("")), Some("LabDesk-Protocol/1"));
    let (status, error) = error_of(missing)?;
    assert_eq!((status, error.code.as_str()), (StatusCode::UPGRADE_REQUIRED, "protocol_too_old"));
    assert!(error.error.contains("this workstation's LabDesk is too old for the server: update LabDesk"), "{error:?}");
    let old = env
        .http
        .post(env.at(&env.server, "/v1/push"))
        .header(PROTOCOL_HEADER, "0")
        .bearer_auth(&env.ann.token)
        .json(&body)
        .send()?;
    assert_eq!(old.status(), 426);
    assert_eq!(env.count("SELECT count(*) FROM revisions")?, 0, "a refused request stores nothing");
    Ok(())
}

#[test]
fn a_workstation_newer_than_the_server_is_told_to_update_the_server() -> Result<()> {
    let env = env()?;
    let response = env
        .http
        .get(env.at(&env.server, "/v1/pull"))
        .header(PROTOCOL_HEADER, "99")
        .bearer_auth(&env.ann.token)
        .send()?;
    let (status, error) = error_of(response)?;
    assert_eq!((status, error.code.as_str()), (StatusCode::BAD_REQUEST, "protocol_too_new"));
    assert!(error.error.contains("the server is older than this workstation: update the server"), "{error:?}");
    Ok(())
}

#[test]
fn no_token_an_unknown_one_or_a_revoked_one_is_asked_to_sign_in_again() -> Result<()> {
    let env = env()?;
    let body = PushRequest { revisions: vec![env.new_case(&env.ann, "x")] };
    let none = env.http.post(env.at(&env.server, "/v1/push")).header(PROTOCOL_HEADER, "1").json(&body).send()?;
    let unknown = env.v1(env.http.post(env.at(&env.server, "/v1/push")), "ldk_nonsense").json(&body).send()?;
    let url = env.db.url.clone();
    block_on(async move {
        let store = PgStore::new(&url, PgOptions::default())?;
        labdesk_server_database::SyncStore::revoke_tokens(&store, "ann", None).await
    })?;
    let revoked = env.v1(env.http.post(env.at(&env.server, "/v1/push")), &env.ann.token).json(&body).send()?;
    for response in [none, unknown, revoked] {
        assert_eq!(response.headers().get("www-authenticate").map(|v| v.as_bytes()), Some(&b"Bearer"[..]));
        let (status, error) = error_of(response)?;
        assert_eq!((status, error.code.as_str()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
        assert!(error.error.contains("sign in again with `labdesk login`"), "{error:?}");
    }
    assert_eq!(env.count("SELECT count(*) FROM revisions")?, 0);
    Ok(())
}

#[test]
fn a_disabled_user_is_forbidden_to_sync() -> Result<()> {
    let env = env()?;
    let url = env.db.url.clone();
    block_on(async move {
        let store = PgStore::new(&url, PgOptions::default())?;
        labdesk_server_database::SyncStore::set_user_disabled(&store, "ann", true).await
    })?;
    let response = env.v1(env.http.get(env.at(&env.server, "/v1/pull")), &env.ann.token).send()?;
    let (status, error) = error_of(response)?;
    assert_eq!((status, error.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    assert!(error.error.contains("disabled"), "{error:?}");
    Ok(())
}

#[test]
fn a_body_over_the_limit_or_a_batch_over_the_maximum_is_too_large_and_changes_nothing() -> Result<()> {
    let env = env()?;
    let small = TestServer::start_with(&env.db.url, 64 * 1024)?;
    let big = PushRequest {
        revisions: vec![revision(
            RecordKind::Case,
            Uuid::now_v7(),
            None,
            "ann",
            "FD1",
            json!({"order_note": "x".repeat(100_000)}),
        )],
    };
    let response = env.v1(env.http.post(env.at(&small, "/v1/push")), &env.ann.token).json(&big).send()?;
    let (status, error) = error_of(response)?;
    assert_eq!((status, error.code.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "too_large"));
    assert!(error.error.contains("larger than the server takes"), "{error:?}");

    let many: Vec<Revision> = (0..1001).map(|n| env.new_case(&env.ann, &n.to_string())).collect();
    let (status, error) = error_of(env.push(&env.server, &env.ann.token, many)?)?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error.error.contains("at most 1000 revisions") && error.error.contains("1001"), "{error:?}");
    assert_eq!(env.count("SELECT count(*) FROM revisions")?, 0, "not one of them was stored");
    Ok(())
}

#[test]
fn malformed_json_is_refused_with_serdes_words_and_changes_nothing() -> Result<()> {
    let env = env()?;
    let response = env
        .v1(env.http.post(env.at(&env.server, "/v1/push")), &env.ann.token)
        .header("content-type", "application/json")
        .body(r#"{"revisions": [{"id": "not-a-uuid"}]}"#)
        .send()?;
    let (status, error) = error_of(response)?;
    assert_eq!((status, error.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"));
    assert!(error.error.contains("UUID") || error.error.contains("uuid"), "serde says what is wrong: {error:?}");
    let response = env.v1(env.http.get(env.at(&env.server, "/v1/pull?after=soon")), &env.ann.token).send()?;
    let (status, error) = error_of(response)?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error.error.contains("after"), "{error:?}");
    assert_eq!(env.count("SELECT count(*) FROM revisions")?, 0);
    Ok(())
}

#[test]
fn health_metrics_and_the_openapi_document_answer_without_sign_in() -> Result<()> {
    let env = env()?;
    let health: Value = env.http.get(env.at(&env.server, "/healthz")).send()?.json()?;
    assert_eq!(health, json!({"status": "ok"}));

    let rejected =
        revision(RecordKind::Case, Uuid::now_v7(), Some(Uuid::now_v7()), "ann", "FD1", json!({"status": "x"}));
    env.push(&env.server, &env.ann.token, vec![env.new_case(&env.ann, "a"), env.new_case(&env.ann, "b"), rejected])?;
    env.pull(&env.server, &env.ann.token, 0)?;
    let metrics = env.http.get(env.at(&env.server, "/metrics")).send()?.text()?;
    for line in [
        r#"labdesk_sync_revisions_total{outcome="applied"} 2"#,
        r#"labdesk_sync_revisions_total{outcome="rejected"} 1"#,
        r#"labdesk_sync_revisions_total{outcome="conflicted"} 0"#,
        r#"labdesk_sync_http_requests_total{method="POST",route="/v1/push",status="200"} 1"#,
        "labdesk_sync_pull_lag_revisions_count 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "metrics should have `{line}`:\n{metrics}");
    }

    let doc: Value = env.http.get(env.at(&env.server, "/openapi.json")).send()?.json()?;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "an OpenAPI 3 document");
    for path in ["/v1/push", "/v1/pull", "/v1/wait", "/healthz", "/metrics", "/openapi.json"] {
        assert!(doc["paths"].get(path).is_some(), "the document describes {path}");
    }
    for schema in ["PushRequest", "PushResponse", "PushResult", "PullPage", "CentralRevision", "Revision", "ErrorBody"]
    {
        assert!(doc["components"]["schemas"].get(schema).is_some(), "the document defines {schema}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], json!("bearer"));

    let (status, error) = error_of(env.http.get(env.at(&env.server, "/v2/nothing")).send()?)?;
    assert_eq!((status, error.code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    Ok(())
}

#[test]
fn two_servers_on_one_database_converge_and_a_long_poll_on_one_wakes_on_a_push_to_the_other() -> Result<()> {
    let env = env()?;
    let other = TestServer::start(&env.db.url)?;
    let bob = provision_blocking(&env.db.url, "North", "bob", Role::Technician, "FD2")?;
    let head = env.pull(&other, &bob.token, 0)?.head;
    std::thread::scope(|scope| -> Result<()> {
        let waiting = scope.spawn(|| -> Result<(WaitResponse, Instant)> {
            let response = env
                .v1(env.http.get(env.at(&other, &format!("/v1/wait?after={head}&timeout_ms=20000"))), &bob.token)
                .send()?;
            Ok((response.json()?, Instant::now()))
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(!waiting.is_finished(), "nothing new yet: the poll waits");
        assert_eq!(env.push(&env.server, &env.ann.token, vec![env.new_case(&env.ann, "hello")])?.status(), 200);
        let pushed = Instant::now();
        let (answer, woke) = waiting.join().expect("the waiting thread")?;
        assert!(answer.head > head, "the poll answers with the new head");
        assert!(woke.duration_since(pushed) < Duration::from_secs(1), "woke {:?} after the push", woke - pushed);
        Ok(())
    })?;
    assert_eq!(env.push(&other, &bob.token, vec![env.new_case(&bob, "from the other side")])?.status(), 200);
    assert_eq!(
        env.pull(&env.server, &env.ann.token, 0)?,
        env.pull(&other, &bob.token, 0)?,
        "one history, both servers"
    );

    let started = Instant::now();
    let head = env.pull(&other, &bob.token, 0)?.head;
    let quiet: WaitResponse = env
        .v1(env.http.get(env.at(&other, &format!("/v1/wait?after={head}&timeout_ms=300"))), &bob.token)
        .send()?
        .json()?;
    assert_eq!(quiet.head, head, "nothing new: the poll returns at its timeout with the same head");
    assert!(started.elapsed() < Duration::from_secs(5));
    Ok(())
}

#[test]
fn a_graceful_shutdown_finishes_the_push_in_flight() -> Result<()> {
    let mut env = env()?;
    let created = env.new_case(&env.ann, "first");
    assert_eq!(env.push(&env.server, &env.ann.token, vec![created.clone()])?.status(), 200);
    let edit =
        revision(RecordKind::Case, created.record_id, Some(created.id), "ann", "FD1", json!({"order_note": "second"}));

    // Hold the record's row lock so that the push is surely in flight when shutdown begins.
    let url = env.db.url.clone();
    let record = created.record_id;
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = std::thread::spawn(move || {
        block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
            tokio::spawn(connection);
            client.batch_execute("BEGIN").await?;
            client.execute("SELECT 1 FROM records WHERE id = $1 FOR UPDATE", &[&record]).await?;
            let _ = locked_tx.send(());
            let _ = release_rx.await;
            client.batch_execute("COMMIT").await?;
            Ok::<(), anyhow::Error>(())
        })
    });
    locked_rx.recv()?;
    let (http, push_url, token) = (env.http.clone(), env.at(&env.server, "/v1/push"), env.ann.token.clone());
    let pushing = std::thread::spawn(move || -> Result<PushResponse> {
        let body = PushRequest { revisions: vec![edit] };
        Ok(http.post(push_url).header(PROTOCOL_HEADER, "1").bearer_auth(token).json(&body).send()?.json()?)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.count(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
    )? == 0
    {
        assert!(Instant::now() < deadline, "the push never reached the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    env.server.begin_shutdown();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!pushing.is_finished(), "the push waits for the lock, shutdown or not");
    let _ = release_tx.send(());
    holder.join().expect("the lock holder")?;
    let answer = pushing.join().expect("the pushing thread")?;
    assert_eq!(answer.results[0].outcome, Outcome::Applied, "the push in flight was finished");
    let server_url = env.server.url.clone();
    let Env { server, .. } = env;
    server.stop()?;
    assert!(reqwest::blocking::get(format!("{server_url}/healthz")).is_err(), "and then the server was gone");
    Ok(())
}

#[tokio::test]
async fn a_database_that_is_away_gets_503_with_words_for_people() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let store = PgStore::new(
        &format!("postgres://nobody@127.0.0.1:{port}/none"),
        PgOptions { max_connections: 1, connect_timeout: Duration::from_millis(300) },
    )?;
    let router = app(AppState::new(Arc::new(store), 1024 * 1024));
    let health = router.clone().oneshot(Request::get("/healthz").body(Body::empty())?).await?;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"5"[..]));
    let pull = router
        .oneshot(
            Request::get("/v1/pull")
                .header(PROTOCOL_HEADER, "1")
                .header("authorization", "Bearer ldk_whatever")
                .body(Body::empty())?,
        )
        .await?;
    assert_eq!(pull.status(), StatusCode::SERVICE_UNAVAILABLE);
    let bytes = axum::body::to_bytes(pull.into_body(), 1 << 20).await?;
    let error: ErrorBody = serde_json::from_slice(&bytes)?;
    assert_eq!(error.code, "unavailable");
    assert!(error.error.contains("your changes stay on this workstation"), "{error:?}");
    Ok(())
}

/// A file's name: its SHA-256 as 64 lower-case hex digits.
fn blob_name(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Env {
    fn put_chunk(&self, token: &str, hash: &str, size: usize, offset: usize, chunk: &[u8]) -> Result<Response> {
        let path = format!("/v1/blobs/{hash}?size={size}&offset={offset}");
        Ok(self.v1(self.http.put(self.at(&self.server, &path)), token).body(chunk.to_vec()).send()?)
    }

    fn blob_state(&self, token: &str, hash: &str) -> Result<Response> {
        Ok(self.v1(self.http.get(self.at(&self.server, &format!("/v1/blobs/{hash}/state"))), token).send()?)
    }

    fn get_blob(&self, token: &str, hash: &str, offset: usize, limit: usize) -> Result<Response> {
        let path = format!("/v1/blobs/{hash}?offset={offset}&limit={limit}");
        Ok(self.v1(self.http.get(self.at(&self.server, &path)), token).send()?)
    }
}

#[test]
fn a_file_uploaded_in_chunks_resumes_where_the_store_says_and_downloads_whole() -> Result<()> {
    let env = env()?;
    let bytes: Vec<u8> = (0..10_000u32).flat_map(u32::to_le_bytes).collect();
    let hash = blob_name(&bytes);
    let (status, body) = error_of(env.blob_state(&env.ann.token, &hash)?)?;
    assert_eq!((status, body.code.as_str()), (StatusCode::NOT_FOUND, "no_blob"), "nothing yet: {}", body.error);

    let first = env.put_chunk(&env.ann.token, &hash, bytes.len(), 0, &bytes[..15_000])?;
    assert_eq!(first.status(), 200);
    let state: BlobState = first.json()?;
    assert_eq!(state, BlobState { size: 40_000, received: 15_000, complete: false });

    // The connection was cut; the workstation asks where to go on, and a stale offset is refused.
    let state: BlobState = env.blob_state(&env.ann.token, &hash)?.json()?;
    assert_eq!(state.received, 15_000, "the store says where the next chunk goes");
    let (status, body) = error_of(env.put_chunk(&env.ann.token, &hash, bytes.len(), 0, &bytes[..15_000])?)?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.error.contains("goes at byte 15000"), "{}", body.error);
    let (status, _) = error_of(env.get_blob(&env.ann.token, &hash, 0, 100)?)?;
    assert_eq!(status, StatusCode::NOT_FOUND, "an incomplete file is not handed out");

    let last = env.put_chunk(&env.ann.token, &hash, bytes.len(), 15_000, &bytes[15_000..])?;
    assert_eq!(last.json::<BlobState>()?, BlobState { size: 40_000, received: 40_000, complete: true });
    let again = env.put_chunk(&env.ann.token, &hash, bytes.len(), 15_000, &bytes[15_000..])?;
    assert_eq!(again.status(), 200, "a chunk sent again after completion (a lost answer) changes nothing");

    let mut down = Vec::new();
    while down.len() < bytes.len() {
        let part = env.get_blob(&env.ann.token, &hash, down.len(), 7_000)?;
        assert_eq!(part.status(), 200);
        down.extend_from_slice(&part.bytes()?);
    }
    assert_eq!(down, bytes, "downloaded across chunk borders, the bytes are the file's");
    assert_eq!(env.count("SELECT count(*) FROM blobs")?, 1);

    // Another lab does not see North's files.
    let bob = provision_blocking(&env.db.url, "South", "bob", Role::Technician, "SO1")?;
    assert_eq!(env.get_blob(&bob.token, &hash, 0, 10)?.status(), 404);
    Ok(())
}

#[test]
fn bytes_that_do_not_hash_to_their_name_are_refused_and_nothing_of_them_is_kept() -> Result<()> {
    let env = env()?;
    let bytes = b"an STL that is not what its name says".to_vec();
    let hash = blob_name(b"something else");
    let (status, body) = error_of(env.put_chunk(&env.ann.token, &hash, bytes.len(), 0, &bytes)?)?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.error.contains("do not hash to") && body.error.contains("upload the file again"), "{}", body.error);
    assert_eq!(env.count("SELECT count(*) FROM blobs")?, 0, "nothing of the blob is kept");
    assert_eq!(env.count("SELECT count(*) FROM blob_chunks")?, 0);

    let (status, body) = error_of(env.put_chunk(&env.ann.token, "not-a-hash", 3, 0, b"abc")?)?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.error.contains("64 lower-case hex digits"), "{}", body.error);
    let right = blob_name(&bytes);
    let (status, body) = error_of(env.put_chunk(&env.ann.token, &right, 5, 0, &bytes)?)?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "more bytes than announced: {}", body.error);
    Ok(())
}

/// A lab's snapshots: built by `build_and_save`, told of by `/v1/snapshot`, downloaded as blobs.
mod snapshots {
    use labdesk_core::sync::{parse_server_url, snapshot_schema, sync_round, HttpTransport, Token};
    use labdesk_core::{OpenOptions, Store};
    use labdesk_proto::sync::SnapshotInfo;
    use labdesk_server_database::SyncStore;
    use labdesk_sync::snapshot::{build_and_save, Built, SnapshotPolicy};

    use super::*;

    /// A workstation that takes in cases and syncs them: what a snapshot is built from must be
    /// what a workstation makes.
    struct Workstation {
        store: Store,
        transport: HttpTransport,
    }

    impl Workstation {
        fn new(server: &str, who: &Provisioned) -> Result<Self> {
            let store = Store::open_in_memory(OpenOptions {
                workstation: Some(who.identity.workstation_code.clone()),
                user: Some(who.identity.user_name.clone()),
            })?;
            let transport = HttpTransport::new(&parse_server_url(server)?, &Token::new(&who.token)?)?;
            Ok(Self { store, transport })
        }

        /// Takes in `n` cases and syncs them.
        fn add_cases(&mut self, n: usize) -> Result<()> {
            for i in 0..n {
                let fields = json!({"patient_name": format!("Patient {i}"), "status": "received"});
                self.store.create_case(fields.as_object().cloned().unwrap_or_default())?;
            }
            let report = sync_round(&mut self.store, &self.transport, &mut |_| {})?;
            assert_eq!(report.rejected, 0, "the cases are taken as they are");
            Ok(())
        }
    }

    impl Env {
        fn snapshot_of(&self, token: &str, schema: &str) -> Result<Response> {
            Ok(self.v1(self.http.get(self.at(&self.server, &format!("/v1/snapshot?schema={schema}"))), token).send()?)
        }

        /// Builds the lab's snapshot now, as the builder would.
        fn build(&self, lab: &str) -> Result<Built> {
            let (url, lab) = (self.db.url.clone(), lab.to_owned());
            block_on(async move {
                let store: Arc<dyn SyncStore> = Arc::new(PgStore::new(&url, PgOptions::default())?);
                let lab = store.lab(&lab).await?;
                Ok(build_and_save(&store, &lab).await?)
            })
        }

        fn built(&self, lab: &str) -> Result<SnapshotInfo> {
            match self.build(lab)? {
                Built::Snapshot(info) => Ok(info),
                other => anyhow::bail!("the snapshot of {lab} was not built: {other:?}"),
            }
        }

        /// The blob `hash` downloaded whole, as a workstation downloads it.
        fn download(&self, token: &str, hash: &str, size: u64) -> Result<Vec<u8>> {
            let mut bytes = Vec::new();
            while (bytes.len() as u64) < size {
                let part = self.get_blob(token, hash, bytes.len(), 1 << 20)?;
                assert_eq!(part.status(), 200, "every part of the snapshot downloads");
                let part = part.bytes()?;
                assert!(!part.is_empty(), "the blob ends before its announced size");
                bytes.extend_from_slice(&part);
            }
            Ok(bytes)
        }
    }

    fn schema() -> String {
        snapshot_schema().to_string()
    }

    #[test]
    fn a_lab_without_a_snapshot_is_told_so_and_pulls() -> Result<()> {
        let env = env()?;
        Workstation::new(&env.server.url, &env.ann)?.add_cases(2)?;
        let (status, error) = error_of(env.snapshot_of(&env.ann.token, &schema())?)?;
        assert_eq!((status, error.code.as_str()), (StatusCode::NOT_FOUND, "no_snapshot"));
        assert!(error.error.contains("North") && error.error.contains("pull"), "{error:?}");
        Ok(())
    }

    #[test]
    fn an_empty_lab_has_nothing_to_snapshot() -> Result<()> {
        let env = env()?;
        assert_eq!(env.build("North")?, Built::Empty);
        assert_eq!(env.count("SELECT count(*) FROM snapshots")?, 0);
        Ok(())
    }

    #[test]
    fn a_built_snapshot_is_offered_to_its_lab_only_and_downloads_as_a_blob_that_hashes_to_its_name() -> Result<()> {
        let env = env()?;
        Workstation::new(&env.server.url, &env.ann)?.add_cases(5)?;
        let built = env.built("North")?;
        let revisions = env.count("SELECT count(*) FROM revisions")?;
        assert_eq!(built.revisions as i64, revisions, "every revision of the lab is in it");
        assert_eq!(built.seq, env.pull(&env.server, &env.ann.token, 0)?.head, "caught up to the lab's head");
        assert_eq!(built.schema, snapshot_schema());

        let offered: SnapshotInfo = env.snapshot_of(&env.ann.token, &schema())?.json()?;
        assert_eq!(offered, built);
        let bytes = env.download(&env.ann.token, &offered.hash, offered.size)?;
        assert_eq!(bytes.len() as u64, offered.size);
        assert_eq!(blob_name(&bytes), offered.hash, "the bytes hash to the snapshot's name");
        let store = zstd::decode_all(&bytes[..])?;
        assert_eq!(store.len() as u64, offered.store_size, "it decompresses to the store it announces");
        assert!(store.starts_with(b"SQLite format 3\0"), "a snapshot is a workstation store, compressed");

        let (status, error) = error_of(env.snapshot_of(&env.ann.token, "999")?)?;
        assert_eq!((status, error.code.as_str()), (StatusCode::NOT_FOUND, "no_snapshot"), "another schema: none");
        let bob = provision_blocking(&env.db.url, "South", "bob", Role::Technician, "SO1")?;
        let (status, error) = error_of(env.snapshot_of(&bob.token, &schema())?)?;
        assert_eq!((status, error.code.as_str()), (StatusCode::NOT_FOUND, "no_snapshot"), "another lab: none");
        assert!(!error.error.contains("North"), "nothing of North is told to South: {error:?}");
        assert_eq!(env.get_blob(&bob.token, &offered.hash, 0, 10)?.status(), 404, "nor its bytes");
        Ok(())
    }

    #[test]
    fn only_the_newest_two_snapshots_are_kept_and_the_oldest_ones_bytes_go_with_it() -> Result<()> {
        let env = env()?;
        let mut workstation = Workstation::new(&env.server.url, &env.ann)?;
        let mut built = Vec::new();
        for round in 1..=3 {
            workstation.add_cases(round)?;
            built.push(env.built("North")?);
        }
        let (first, second, third) = (&built[0], &built[1], &built[2]);
        assert!(first.seq < second.seq && second.seq < third.seq, "{built:?}");
        let offered: SnapshotInfo = env.snapshot_of(&env.ann.token, &schema())?.json()?;
        assert_eq!(&offered, third, "the newest is offered");
        assert_eq!(env.count("SELECT count(*) FROM snapshots")?, 2, "the newest two are kept");
        assert_eq!(env.count("SELECT count(*) FROM blobs")?, 2, "the oldest's blob is gone");
        assert_eq!(env.get_blob(&env.ann.token, &first.hash, 0, 10)?.status(), 404);
        assert_eq!(
            env.download(&env.ann.token, &second.hash, second.size)?.len() as u64,
            second.size,
            "the one before the newest still downloads: a workstation may be taking it"
        );
        Ok(())
    }

    #[test]
    fn a_snapshot_request_without_a_whole_number_schema_is_refused_in_words() -> Result<()> {
        let env = env()?;
        for query in ["soon", "-1", ""] {
            let (status, error) = error_of(env.snapshot_of(&env.ann.token, query)?)?;
            assert_eq!((status, error.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"), "schema={query}");
            assert!(error.error.contains("schema") || error.error.contains("query"), "{error:?}");
        }
        let bare = env.v1(env.http.get(env.at(&env.server, "/v1/snapshot")), &env.ann.token).send()?;
        let (status, error) = error_of(bare)?;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(error.error.contains("schema"), "says what is missing: {error:?}");
        let doc: Value = env.http.get(env.at(&env.server, "/openapi.json")).send()?.json()?;
        assert!(doc["paths"].get("/v1/snapshot").is_some(), "the document describes /v1/snapshot");
        assert!(doc["components"]["schemas"].get("SnapshotInfo").is_some());
        Ok(())
    }

    #[test]
    fn the_snapshot_command_says_what_it_built_or_why_it_built_nothing() -> Result<()> {
        let env = env()?;
        let run = |lab: &str| -> Result<(bool, String)> {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_labdesk-sync"))
                .args(["snapshot", "--lab", lab])
                .env("DATABASE_URL", &env.db.url)
                .env_remove("RUST_LOG")
                .output()?;
            Ok((out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned()))
        };
        let (ok, said) = run("Nowhere")?;
        assert!(!ok && said.contains("no lab named Nowhere") && said.contains("the labs are: North"), "{said}");
        assert!(said.contains("labdesk-sync lab add"), "says how to add one: {said}");
        let (ok, said) = run("North")?;
        assert!(ok && said.contains("North has no revisions yet: there is nothing to snapshot"), "{said}");
        Workstation::new(&env.server.url, &env.ann)?.add_cases(2)?;
        let (ok, said) = run("North")?;
        let revisions = env.count("SELECT count(*) FROM revisions")?;
        assert!(ok && said.contains(&format!("Built the snapshot of North: {revisions} revisions up to ")), "{said}");
        assert!(said.contains(" store sent as ") && said.trim_end().ends_with(" s."), "{said}");
        assert_eq!(env.count("SELECT count(*) FROM snapshots")?, 1);
        Ok(())
    }

    #[test]
    fn setup_takes_a_lower_case_workstation_code_in_capitals_as_labdesk_init_does() -> Result<()> {
        let env = env()?;
        let setup = |code: &str| -> Result<(bool, String)> {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_labdesk-sync"))
                .args(["setup", "--lab", "Lower Lab", "--user", "lea", "--workstation", code])
                .env("DATABASE_URL", &env.db.url)
                .env_remove("RUST_LOG")
                .output()?;
            Ok((out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned()))
        };
        let (ok, said) = setup("lw1")?;
        assert!(ok && said.contains("created workstation LW1"), "fd1 is FD1 here as on the workstation: {said}");
        let (ok, said) = setup("LW1")?;
        assert!(ok && said.contains("workstation LW1 (lab Lower Lab) exists already"), "the same one: {said}");
        assert_eq!(env.count("SELECT count(*) FROM workstations WHERE code = 'LW1'")?, 1);
        Ok(())
    }

    /// Waits until the lab's newest snapshot is not `seen`, and returns it.
    async fn next_snapshot(
        store: &Arc<dyn SyncStore>,
        who: &Identity,
        seen: Option<&SnapshotInfo>,
    ) -> Result<SnapshotInfo> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match store.snapshot(who, snapshot_schema()).await? {
                Some(info) if Some(&info) != seen => return Ok(info),
                _ => {}
            }
            assert!(Instant::now() < deadline, "the builder never built {}'s snapshot", who.lab_name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_builder_builds_a_due_labs_snapshot_by_itself_and_stops_with_the_server() -> Result<()> {
        let db = TestPostgres::start()?;
        let ann = provision_blocking(&db.url, "North", "ann", Role::Technician, "FD1")?;
        provision_blocking(&db.url, "South", "bob", Role::Technician, "SO1")?;
        let store: Arc<dyn SyncStore> = Arc::new(PgStore::new(&db.url, PgOptions::default())?);
        let revisions = || -> Result<i64> { super::count(&db.url, "SELECT count(*) FROM revisions") };
        // A new case is at least one revision: due after each new one.
        let policy = SnapshotPolicy { every: 1, check: Duration::from_millis(100) };
        let state = AppState::with_snapshots(Arc::clone(&store), 1 << 20, policy);
        let metrics = state.metrics().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(labdesk_sync::serve(listener, state, async {
            let _ = stopped.await;
        }));
        let mut workstation = {
            let (url, ann) = (url.clone(), ann.clone());
            tokio::task::spawn_blocking(move || Workstation::new(&url, &ann)).await??
        };
        workstation = tokio::task::spawn_blocking(move || workstation.add_cases(2).map(|()| workstation)).await??;

        let first = next_snapshot(&store, &ann.identity, None).await?;
        assert_eq!(first.revisions as i64, revisions()?);
        workstation = tokio::task::spawn_blocking(move || workstation.add_cases(1).map(|()| workstation)).await??;
        let second = next_snapshot(&store, &ann.identity, Some(&first)).await?;
        assert_eq!(second.revisions as i64, revisions()?, "built again once due again");
        drop(workstation);
        let rendered = metrics.render();
        assert!(rendered.contains(r#"labdesk_sync_snapshots_total{result="failed"} 0"#), "{rendered}");
        assert!(!rendered.contains(r#"labdesk_sync_snapshots_total{result="built"} 0"#), "{rendered}");

        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(30), server).await???;
        let south = Identity::snapshot_builder(&store.lab("South").await?);
        assert_eq!(store.snapshot(&south, snapshot_schema()).await?, None, "an empty lab is never due");
        Ok(())
    }
}

/// Runs one SQL query that returns one number, on the database at `url`.
fn count(url: &str, sql: &'static str) -> Result<i64> {
    let url = url.to_owned();
    block_on(async move {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
        tokio::spawn(connection);
        Ok(client.query_one(sql, &[]).await?.get(0))
    })
}
