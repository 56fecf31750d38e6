//! Long polls: one LISTEN connection per store, fanned out to every waiter (crate docs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use labdesk_server_database::{Identity, Result};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::{pull, CHANNEL};

/// A waiter re-reads the head this often even with no notification: a lost LISTEN connection
/// then delays a wake-up by at most this, and never loses it.
const RECHECK: Duration = Duration::from_secs(5);
/// How long a first waiter waits for LISTEN to be in place before reading the head.
const READY_WAIT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct Listener {
    config: tokio_postgres::Config,
    /// Bumped on every notification, and when LISTEN is (re-)established.
    changes: watch::Sender<u64>,
    /// LISTEN is in place.
    ready: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    started: AtomicBool,
}

impl Listener {
    pub(crate) fn new(config: tokio_postgres::Config) -> Self {
        Self {
            config,
            changes: watch::Sender::new(0),
            ready: watch::Sender::new(false),
            stop: watch::Sender::new(false),
            started: AtomicBool::new(false),
        }
    }

    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn start(self: &Arc<Self>) {
        if !self.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(Arc::clone(self).run());
        }
    }

    async fn run(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut backoff = Duration::from_millis(100);
        while !*stop.borrow_and_update() {
            match self.listen_once(&mut stop).await {
                Ok(()) => return,
                Err(e) => {
                    self.ready.send_replace(false);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis(), "LISTEN connection lost");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Listens until stopped (Ok) or until the connection fails (Err, why).
    async fn listen_once(&self, stop: &mut watch::Receiver<bool>) -> Result<(), String> {
        let (client, mut connection) = self.config.connect(NoTls).await.map_err(|e| e.to_string())?;
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        let statement = format!("LISTEN {CHANNEL}");
        let listen = client.batch_execute(&statement);
        tokio::pin!(listen);
        // The connection only moves while its messages are polled: poll both until LISTEN is in.
        loop {
            tokio::select! {
                done = &mut listen => { done.map_err(|e| e.to_string())?; break; }
                _ = stop.changed() => return Ok(()),
                message = messages.next() => match message {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("the connection closed".into()),
                },
            }
        }
        self.ready.send_replace(true);
        // A change may have come while no one listened: let every waiter look again.
        self.changes.send_modify(|g| *g += 1);
        tracing::debug!("listening for new revisions");
        loop {
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                message = messages.next() => match message {
                    Some(Ok(AsyncMessage::Notification(_))) => self.changes.send_modify(|g| *g += 1),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("the connection closed".into()),
                },
            }
        }
    }
}

/// Returns the lab's head as soon as it passes `after`, or at the timeout.
pub(crate) async fn wait_for_change(
    listener: &Arc<Listener>,
    pool: &Pool,
    who: &Identity,
    after: i64,
    timeout: Duration,
) -> Result<i64> {
    listener.start();
    let deadline = Instant::now() + timeout;
    let mut ready = listener.ready.subscribe();
    let _ = tokio::time::timeout_at(deadline.min(Instant::now() + READY_WAIT), ready.wait_for(|r| *r)).await;
    // Subscribed before the head is read: a change committed after that read wakes us.
    let mut changes = listener.changes.subscribe();
    loop {
        changes.borrow_and_update();
        let head = pull::head(pool, who).await?;
        if head > after || Instant::now() >= deadline {
            return Ok(head);
        }
        let nap = deadline.min(Instant::now() + RECHECK);
        let _ = tokio::time::timeout_at(nap, changes.changed()).await;
    }
}
