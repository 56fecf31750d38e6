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
use labdesk_server_database::Role;
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
        let url = self.db.url.clone();
        block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
            tokio::spawn(connection);
            Ok(client.query_one(sql, &[]).await?.get(0))
        })
    }

    /// A new case (the simplest record: it hangs on nothing), with `note` as its order note.
    fn new_case(&self, who: &Provisioned, note: &str) -> Revision {
        revision(
            RecordKind::Case,
            Uuid::now_v7(),
            None,
            &who.identity.user_name,
            &who.identity.workstation_code,
            json!({"case_number": format!("{}-{}", who.identity.workstation_code, Uuid::now_v7()), "order_note": note}),
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
