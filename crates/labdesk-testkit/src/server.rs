//! An in-process sync server over a test database, and a user to sync as.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};
use labdesk_server_database::{Identity, Role, SyncStore};
use labdesk_server_postgres::{PgOptions, PgStore};
use labdesk_sync::{AppState, DEFAULT_MAX_BODY_BYTES};
use tokio::sync::oneshot;

use crate::block_on;

/// `labdesk_sync::serve` on 127.0.0.1 (a free port), on its own thread and runtime. Dropping it
/// shuts it down gracefully and waits.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl TestServer {
    /// Migrates the database at `database_url` and serves it.
    pub fn start(database_url: &str) -> Result<TestServer> {
        Self::start_with(database_url, DEFAULT_MAX_BODY_BYTES)
    }

    /// As [`start`](Self::start), with a request body limit.
    pub fn start_with(database_url: &str, max_body_bytes: usize) -> Result<TestServer> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let database_url = database_url.to_owned();
        let thread = std::thread::Builder::new().name("labdesk-test-server".into()).spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            runtime.block_on(async move {
                let started = async {
                    let store =
                        PgStore::new(&database_url, PgOptions::default())?.with_rules(labdesk_sync::record_rules());
                    store.migrate().await?;
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                    let addr = listener.local_addr()?;
                    Ok::<_, anyhow::Error>((store, listener, addr))
                }
                .await;
                let (store, listener, addr) = match started {
                    Ok(started) => started,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(());
                    }
                };
                let _ = ready_tx.send(Ok(addr));
                let state = AppState::new(Arc::new(store), max_body_bytes);
                labdesk_sync::serve(listener, state, async {
                    let _ = stop_rx.await;
                })
                .await
                .context("the test server failed")
            })
        })?;
        let addr = ready_rx.recv().map_err(|_| anyhow!("the test server thread died while starting"))??;
        Ok(TestServer { url: format!("http://{addr}"), shutdown: Some(stop_tx), thread: Some(thread) })
    }

    /// Asks the server to shut down (as SIGTERM would) without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts down gracefully and waits until every request in flight has been answered.
    pub fn stop(mut self) -> Result<()> {
        self.begin_shutdown();
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| anyhow!("the test server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Someone to sync as: a bearer token and the identity it stands for.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub token: String,
    pub identity: Identity,
}

/// Creates (or finds) a lab, a user with `role` in it and a workstation of it, and issues a token.
pub async fn provision(
    store: &dyn SyncStore,
    lab: &str,
    user: &str,
    role: Role,
    workstation: &str,
) -> Result<Provisioned> {
    store.add_lab(lab).await?;
    store.add_user(lab, user, Some(role)).await?;
    store.add_workstation(lab, workstation).await?;
    let issued = store.issue_token(user, workstation).await?;
    let identity = store.authenticate(&issued.token).await?.context("a token just issued was not recognised")?;
    Ok(Provisioned { token: issued.token, identity })
}

/// [`provision`] for plain (non-async) tests: migrates the database first.
pub fn provision_blocking(
    database_url: &str,
    lab: &str,
    user: &str,
    role: Role,
    workstation: &str,
) -> Result<Provisioned> {
    let (url, lab, user, workstation) =
        (database_url.to_owned(), lab.to_owned(), user.to_owned(), workstation.to_owned());
    block_on(async move {
        let store = PgStore::new(&url, PgOptions { max_connections: 2, ..PgOptions::default() })?;
        store.migrate().await?;
        provision(&store, &lab, &user, role, &workstation).await
    })
}
