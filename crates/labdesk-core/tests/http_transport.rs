//! The HTTP transport against a scripted one-request server on the loopback address: what it
//! sends (protocol version, bearer token, paths) and how it turns each kind of answer into a
//! message that tells a person what to do.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Duration;

use labdesk_core::sync::{parse_server_url, HttpTransport, SyncError, Token, Transport};
use labdesk_proto::sync::{PullPage, PushRequest};

/// Serves one request with `status` and `body`, and hands back the request it got.
fn serve_once(status: &'static str, body: &'static str) -> (url::Url, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = parse_server_url(&format!("http://{}/labdesk", listener.local_addr().unwrap())).unwrap();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let mut request_body = vec![0; length];
        reader.read_exact(&mut request_body).unwrap();
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        reader.get_mut().write_all(answer.as_bytes()).unwrap();
        head + &String::from_utf8_lossy(&request_body)
    });
    (url, handle)
}

fn transport(url: &url::Url) -> HttpTransport {
    HttpTransport::new(url, &Token::new("t0ken-for-tests").unwrap()).unwrap()
}

#[test]
fn every_request_carries_the_protocol_version_and_the_bearer_token_and_a_page_is_read() {
    let page = r#"{"revisions": [], "next": 7, "more": false, "head": 7, "remaining": 0}"#;
    let (url, request) = serve_once("200 OK", page);
    let answer = transport(&url).pull(5, 10).unwrap();
    assert_eq!(answer, PullPage { revisions: vec![], next: 7, more: false, head: 7, remaining: 0 });
    let request = request.join().unwrap();
    let lower = request.to_ascii_lowercase();
    assert!(
        request.starts_with("GET /labdesk/v1/pull?after=5&limit=10 "),
        "the path keeps the server's own: {request}"
    );
    assert!(lower.contains("labdesk-protocol: 1\r\n"), "{request}");
    assert!(lower.contains("authorization: bearer t0ken-for-tests\r\n"), "{request}");
}

#[test]
fn a_server_that_names_no_kinds_is_sent_only_the_first_releases_and_is_told_this_builds() {
    use labdesk_core::RecordKind;
    let (url, request) = serve_once("200 OK", r#"{"status": "ok"}"#);
    let transport = transport(&url);
    assert!(transport.keeps(RecordKind::Case), "every server keeps cases");
    assert!(!transport.keeps(RecordKind::Setting), "a server that names no kinds would refuse a batch with a setting");
    let request = request.join().unwrap();
    assert!(request.starts_with("GET /labdesk/healthz "), "the server was asked once: {request}");
    let lower = request.to_ascii_lowercase();
    assert!(lower.contains(&format!("labdesk-kinds: {}\r\n", labdesk_proto::kinds_header())), "{lower}");
}

#[test]
fn a_push_posts_the_revisions_as_json() {
    let (url, request) = serve_once("200 OK", r#"{"results": []}"#);
    let answer = transport(&url).push(&PushRequest { revisions: vec![] }).unwrap();
    assert!(answer.results.is_empty());
    let request = request.join().unwrap();
    assert!(request.starts_with("POST /labdesk/v1/push "), "{request}");
    assert!(request.ends_with(r#"{"revisions":[]}"#), "{request}");
}

#[test]
fn a_refused_sign_in_says_to_sign_in_again_in_the_servers_words() {
    let (url, _) = serve_once("401 Unauthorized", r#"{"error": "this token was revoked", "code": "unauthenticated"}"#);
    let err = transport(&url).pull(0, 1).unwrap_err();
    assert!(matches!(err, SyncError::Unauthenticated { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("this token was revoked"), "the server's reason is shown: {text}");
    assert!(text.contains("sign in again: labdesk login --server"), "and what to do: {text}");
    assert!(!err.is_transient(), "a person must act: retrying alone will not help");
}

#[test]
fn an_old_workstation_is_told_to_update_labdesk() {
    let (url, _) = serve_once(
        "426 Upgrade Required",
        r#"{"error": "protocol 1 is no longer served", "code": "protocol_too_old"}"#,
    );
    let err = transport(&url).pull(0, 1).unwrap_err();
    assert!(matches!(err, SyncError::UpgradeRequired { .. }), "{err:?}");
    assert!(err.to_string().contains("update LabDesk"), "{err}");
}

#[test]
fn a_server_in_trouble_is_retried_later_and_an_answer_without_a_body_still_reads_well() {
    let (url, _) = serve_once("503 Service Unavailable", "");
    let err = transport(&url).pull(0, 1).unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("503") && text.contains("service unavailable") && text.contains("sent later"), "{text}");
}

#[test]
fn a_server_that_is_not_there_is_named_and_nothing_is_lost() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = parse_server_url(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = transport(&url).pull(0, 1).unwrap_err();
    assert!(err.is_offline(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("the server at http://127.0.0.1:{port}/ is not reachable")), "{text}");
    assert!(text.contains("changes stay in the outbox and will be sent later"), "{text}");
}

#[test]
fn an_answer_that_is_not_the_protocol_is_called_out() {
    let (url, _) = serve_once("200 OK", "<html>a captive portal</html>");
    let err = transport(&url).pull(0, 1).unwrap_err();
    assert!(matches!(err, SyncError::BadAnswer { .. }), "{err:?}");
    assert!(err.to_string().contains("is that address a LabDesk sync server?"), "{err}");
}

#[test]
fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = parse_server_url(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let token = Token::new("t").unwrap();
    let t = HttpTransport::with_timeouts(&url, &token, Duration::from_secs(1), Duration::from_millis(300)).unwrap();
    let err = t.pull(0, 1).unwrap_err();
    assert!(matches!(err, SyncError::TimedOut { .. }), "{err:?}");
    assert!(err.is_transient());
    drop(listener);
}

#[test]
fn the_token_never_shows_in_the_transports_debug_output() {
    let url = parse_server_url("https://sync.lab.example").unwrap();
    let t = HttpTransport::new(&url, &Token::new("s3cr3t-value").unwrap()).unwrap();
    let debug = format!("{t:?}");
    assert!(!debug.contains("s3cr3t-value"), "the token leaked into Debug: {debug}");
}

#[test]
fn server_addresses_are_checked_and_kept_with_a_trailing_slash() {
    assert_eq!(
        parse_server_url("https://sync.lab.example/labdesk").unwrap().as_str(),
        "https://sync.lab.example/labdesk/"
    );
    for bad in ["sync.lab.example", "ftp://sync.lab.example", "https://user:pw@sync.lab.example", "https://x/?a=b"] {
        let err = parse_server_url(bad).unwrap_err();
        assert!(err.to_string().contains("is not a server address"), "{bad}: {err}");
    }
}
