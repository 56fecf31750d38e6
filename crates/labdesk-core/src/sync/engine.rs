//! The sync engine: a round (push, pull, finish) and the watch loop that runs rounds when
//! something changed, on either side.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use labdesk_proto::sync::{PullPage, PushRequest, WaitPageResponse};
use rand::Rng;
use serde::Serialize;
use uuid::Uuid;

use super::conflicts::RejectedChange;
use super::error::SyncError;
use super::pull::{Apply, ApplyReport};
use super::transport::Transport;
use super::{bootstrap, snapshot};
use crate::Store;

/// At most this many revisions in one push.
pub const PUSH_BATCH: usize = 500;
/// At most this many revisions asked for in one pull page.
pub const PULL_LIMIT: u32 = 1000;

/// The stages of a round, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum SyncStage {
    /// Sending the outbox.
    Push,
    /// Receiving and applying what the central store has.
    Pull,
    /// Recording that the round completed.
    Finish,
}

/// How far a stage is, for a progress bar. `records_total` grows during a pull as the server
/// says how much remains; `bytes_total` is an estimate, `None` until there is one. While a lab's
/// snapshot downloads, `records_done` counts its revisions in proportion to its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Progress {
    pub stage: SyncStage,
    pub records_done: u64,
    pub records_total: u64,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
}

/// What a round did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncReport {
    /// Revisions sent and answered.
    pub pushed: u64,
    pub applied: u64,
    pub merged: u64,
    pub conflicted: u64,
    pub rejected: u64,
    /// Revisions sent that got no answer; they stay in the outbox.
    pub unanswered: u64,
    /// The changes refused in this round, with the reasons.
    pub rejections: Vec<RejectedChange>,
    /// Revisions received.
    pub pulled: u64,
    /// Of those: our own that came back as we had them, those appended by the fast path, and
    /// the records rebuilt (once per page each).
    pub confirmed: u64,
    pub fast: u64,
    pub rebuilt: u64,
    /// Of the revisions received: those that came in the lab's snapshot (a fresh workstation's
    /// first round, when the central store keeps one).
    pub from_snapshot: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Files whose bytes went to the central store (whole, by the end of the round).
    pub files_up: u64,
    /// The cursor after the round.
    pub cursor: i64,
    /// Changes still waiting in the outbox (made during the round, or not answered).
    pub pending: u64,
    /// Records that need review.
    pub needs_review: u64,
    /// Changes from the lab set aside in this round because this workstation could not store
    /// them (see `labdesk rejected`), and of those set aside before, how many applied now.
    pub set_aside: u64,
    pub held_applied: u64,
    /// Changes from the lab still set aside after the round: tried again at every round.
    pub held: u64,
}

/// The size of a message as JSON: what goes over the wire, give or take HTTP's own bytes.
fn json_size<T: Serialize>(value: &T) -> u64 {
    serde_json::to_vec(value).map_or(0, |b| b.len() as u64)
}

/// One sync round: push the outbox, pull and apply everything after the cursor, and note the
/// time. A failure stops the round where it is; what was done stays done (every batch and page
/// is its own transaction), and the reason is kept for the UI (`SyncState::last_error`).
#[tracing::instrument(name = "sync.round", skip_all)]
pub fn sync_round(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SyncReport, SyncError> {
    round(store, transport, progress, None)
}

/// What a long poll brought ([`Transport::wait_with_page`]): the cursor it waited after, and its
/// answer.
#[derive(Debug, Clone)]
pub struct News {
    pub after: i64,
    pub answer: WaitPageResponse,
}

/// [`sync_round`], woken by a long poll's news: the page the news brought is applied instead of
/// asked for, which spares the round a request. Unless the round pushed something first, or the
/// store's cursor moved since the poll: then the page may not be what a pull would give now, and
/// the round pulls as usual.
#[tracing::instrument(name = "sync.round", skip_all, fields(news = news.answer.head))]
pub fn sync_round_after_news(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(&Progress),
    news: News,
) -> Result<SyncReport, SyncError> {
    round(store, transport, progress, Some(news))
}

fn round(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(&Progress),
    news: Option<News>,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let outcome = push_stage(store, transport, progress, &mut report)
        .and_then(|()| super::blobs::upload_stage(store, transport, progress, &mut report))
        .and_then(|()| news_page(store, news, &report))
        .and_then(|first| pull_stage(store, transport, progress, &mut report, first))
        .and_then(|()| retry_held(store, &mut report));
    match outcome {
        Ok(()) => {
            // The round was noted as completed in the transaction of its last page.
            progress(&Progress {
                stage: SyncStage::Finish,
                records_done: 0,
                records_total: 0,
                bytes_done: 0,
                bytes_total: None,
            });
            let state = store.sync_state()?;
            report.pending = state.pending;
            report.needs_review = state.needs_review;
            report.held = state.held;
            report.cursor = state.cursor;
            tracing::info!(
                pushed = report.pushed,
                rejected = report.rejected,
                pulled = report.pulled,
                cursor = report.cursor,
                "sync round done"
            );
            Ok(report)
        }
        Err(error) => {
            // The caller tells the person; the log keeps it at info so it is not said twice.
            tracing::info!(%error, "sync round failed");
            // Best effort: the round's own error is what matters to the caller.
            if let Err(e) = store.note_round(Some(&error.to_string())) {
                tracing::warn!(error = %e, "could not note the failed round");
            }
            Err(error)
        }
    }
}

/// The page a long poll's news brought, when it is still what a pull would start with: the round
/// pushed nothing (what it pushed would come after the page, which then would not say whether more
/// waits), and the cursor is where the poll left it.
fn news_page(store: &Store, news: Option<News>, report: &SyncReport) -> Result<Option<PullPage>, SyncError> {
    match news {
        Some(News { after, answer: WaitPageResponse { page: Some(page), .. } })
            if report.pushed == 0 && report.unanswered == 0 && store.sync_cursor()? == after =>
        {
            Ok(Some(page))
        }
        _ => Ok(None),
    }
}

fn push_stage(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(&Progress),
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    // Up to the newest change now: changes made while pushing wait for the next round, so a busy
    // workstation still gets to pull.
    let until = store.outbox_end()?;
    let total = store.pending_count()?;
    let mut p = Progress {
        stage: SyncStage::Push,
        records_done: 0,
        records_total: total,
        bytes_done: 0,
        bytes_total: Some(store.outbox_size_estimate()?),
    };
    progress(&p);
    let mut after = 0;
    loop {
        let batch = store.outbox_batch(after, until, PUSH_BATCH)?;
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        after = last;
        // Kinds the server does not keep wait here until it does (it would refuse the batch).
        let (revisions, waiting): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|(_, r)| r).partition(|r| transport.keeps(r.record_kind));
        if !waiting.is_empty() {
            tracing::info!(waiting = waiting.len(), "changes of kinds the server does not keep stay in the outbox");
        }
        if revisions.is_empty() {
            continue;
        }
        let request = PushRequest { revisions };
        let up = json_size(&request);
        report.bytes_up += up;
        match transport.push(&request) {
            Ok(response) => {
                report.bytes_down += json_size(&response);
                let tally = store.record_push_results(&request.revisions, &response.results)?;
                report.pushed += tally.accepted() + tally.rejected;
                report.applied += tally.applied;
                report.merged += tally.merged;
                report.conflicted += tally.conflicted;
                report.rejected += tally.rejected;
                report.unanswered += tally.unanswered;
                report.rejections.extend(tally.rejections);
            }
            Err(error) => {
                let ids: Vec<Uuid> = request.revisions.iter().map(|r| r.id).collect();
                store.note_push_failure(&ids, &error.to_string())?;
                return Err(error);
            }
        }
        p.records_done += request.revisions.len() as u64;
        p.bytes_done += up;
        p.bytes_total = p.bytes_total.map(|t| t.max(p.bytes_done));
        progress(&p);
    }
    Ok(())
}

fn pull_stage(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(&Progress),
    report: &mut SyncReport,
    first: Option<PullPage>,
) -> Result<(), SyncError> {
    let mut p =
        Progress { stage: SyncStage::Pull, records_done: 0, records_total: 0, bytes_done: 0, bytes_total: None };
    progress(&p);
    // A fresh workstation takes the lab's snapshot when there is one; the pull goes on after it.
    let bootstrapping = store.bootstrapping()?;
    let took_snapshot = bootstrapping && snapshot::take(store, transport, progress, &mut p, report)?;
    if bootstrapping && !took_snapshot {
        // A fresh workstation's first pull (or one cut short): in bulk, pages fetched ahead.
        let outcome = match bootstrap::pull(store, transport, progress, &mut p, report) {
            Ok(bootstrap::Pulled::Done) => Ok(()),
            Ok(bootstrap::Pulled::NotBulk) => page_by_page(store, transport, progress, &mut p, report, None, true),
            Err(error) => Err(error),
        };
        if outcome.is_err() {
            // The round ends here: leave the store complete until the next one carries on.
            if let Err(e) = store.settle_pending_indexes() {
                tracing::warn!(error = %e, "could not build the indexes the bootstrap left pending");
            }
        }
        return outcome;
    }
    page_by_page(store, transport, progress, &mut p, report, first, false)
}

/// Tries again what earlier pulls set aside, after this round's pull: the pull may have brought
/// what clears the way (the other record renumbered, or ours refused), and later changes of a
/// held record come in behind it.
fn retry_held(store: &mut Store, report: &mut SyncReport) -> Result<(), SyncError> {
    let retried = store.retry_held()?;
    report.held_applied += retried.applied;
    if retried.applied > 0 {
        tracing::info!(applied = retried.applied, still = retried.held, "changes set aside earlier applied now");
    }
    Ok(())
}

/// Pulls and applies pages one after the other, each in its transaction, the last one noting the
/// round as completed. `first`: the first page, when a long poll brought it.
fn page_by_page(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(&Progress),
    p: &mut Progress,
    report: &mut SyncReport,
    mut first: Option<PullPage>,
    bootstrap: bool,
) -> Result<(), SyncError> {
    let mut cursor = store.sync_cursor()?;
    loop {
        let (page, down) = match first.take() {
            Some(page) => {
                let down = json_size(&page);
                (page, down)
            }
            None => transport.pull_sized(cursor, PULL_LIMIT)?,
        };
        let last = is_last(&page, cursor);
        let applied = store.apply_pages(std::slice::from_ref(&page), Apply { bootstrap, last })?;
        cursor = applied.cursor;
        tally(report, p, &applied, page.remaining, down);
        progress(p);
        if last {
            return Ok(());
        }
    }
}

/// Whether `page`, asked for after `cursor`, is the round's last: nothing more waits, or it moves
/// nothing on (then the next page would be the same: stop rather than ask for it forever).
pub(super) fn is_last(page: &PullPage, cursor: i64) -> bool {
    !page.more || (page.revisions.is_empty() && page.next <= cursor)
}

/// Counts an applied page (or batch) in the round's report and its progress.
pub(super) fn tally(report: &mut SyncReport, p: &mut Progress, applied: &ApplyReport, remaining: u64, down: u64) {
    report.pulled += applied.revisions;
    report.confirmed += applied.confirmed;
    report.fast += applied.fast;
    report.rebuilt += applied.rebuilt;
    report.set_aside += applied.held;
    report.bytes_down += down;
    p.records_done += applied.revisions;
    p.records_total = p.records_done + remaining;
    p.bytes_done += down;
    // What remains is estimated at the size of what came so far.
    p.bytes_total = (p.records_done > 0).then(|| p.bytes_done * p.records_total / p.records_done);
}

/// How [`watch`] paces itself.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How long one long poll for central news lasts.
    pub long_poll: Duration,
    /// How often the local outbox is looked at for new changes to push.
    pub outbox_check: Duration,
    /// The first and the longest wait before trying an absent server again.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            long_poll: Duration::from_secs(25),
            outbox_check: Duration::from_millis(500),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// What a watch reports as it goes.
#[derive(Debug)]
pub enum WatchEvent {
    Progress(Progress),
    /// A round completed.
    Synced(SyncReport),
    /// A round failed; the next try is in `retry_in`.
    Failed {
        error: SyncError,
        retry_in: Duration,
    },
    /// The long poll failed while the server was thought there: it is out of reach (the link or
    /// the server is down) until a poll or a round gets an answer again. Said once per outage.
    Unreachable(SyncError),
    /// A long poll was answered after the server had been out of reach: it is back. Changes
    /// waiting in the outbox go at once rather than after the rest of a backoff.
    Reachable,
}

/// What the long-poll thread tells the watch.
#[derive(Debug)]
enum Heard {
    /// New revisions, with their first page.
    News(News),
    /// The poll was answered, with nothing new.
    Quiet,
    /// The poll failed.
    Lost(SyncError),
}

/// Exponential backoff with jitter: each wait is between half and all of a base that doubles
/// from `min` to `max`, so that workstations that lost the server together do not all come back
/// in the same second.
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    base: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Self { min, max, base: min }
    }

    fn next(&mut self) -> Duration {
        let base = self.base;
        self.base = (self.base * 2).min(self.max);
        base.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    fn reset(&mut self) {
        self.base = self.min;
    }
}

/// Sleeps up to `total`, waking early when `stop` is set.
fn nap(total: Duration, stop: &AtomicBool) {
    let end = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Keeps this workstation in sync until `stop` is set: a round at once; then a round whenever
/// the central store has news (a long poll on a thread of its own learns of it within a second)
/// or the outbox grows (looked at every `outbox_check`). While the server is away, rounds are
/// retried with exponential backoff and jitter, never given up. Returns when stopped; a round in
/// progress finishes first, and the long-poll thread ends after its current poll.
pub fn watch(
    store: &mut Store,
    transport: Arc<dyn Transport>,
    options: &WatchOptions,
    stop: &Arc<AtomicBool>,
    on_event: &mut dyn FnMut(&WatchEvent),
) -> Result<(), crate::Error> {
    let cursor = Arc::new(AtomicI64::new(store.sync_cursor()?));
    let (news_tx, news) = mpsc::channel::<Heard>();
    {
        let (transport, stop, cursor, options) = (transport.clone(), stop.clone(), cursor.clone(), options.clone());
        let spawned = std::thread::Builder::new().name("labdesk-sync-wait".into()).spawn(move || {
            let mut backoff = Backoff::new(options.backoff_min, options.backoff_max);
            while !stop.load(Ordering::Relaxed) {
                let after = cursor.load(Ordering::Relaxed);
                // News comes with its first page: the round it wakes then need not ask for it.
                match transport.wait_with_page(after, options.long_poll, PULL_LIMIT) {
                    Ok(answer) => {
                        backoff.reset();
                        let head = answer.head;
                        if head <= after {
                            if news_tx.send(Heard::Quiet).is_err() {
                                break;
                            }
                        } else {
                            if news_tx.send(Heard::News(News { after, answer })).is_err() {
                                break;
                            }
                            // Give the round time to pull it, rather than hear the same news again.
                            let until = Instant::now() + Duration::from_secs(5);
                            while cursor.load(Ordering::Relaxed) < head
                                && Instant::now() < until
                                && !stop.load(Ordering::Relaxed)
                            {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%error, "long poll failed");
                        if news_tx.send(Heard::Lost(error)).is_err() {
                            break;
                        }
                        nap(backoff.next(), &stop);
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no long-poll thread: central news waits for the next local change");
        }
    }

    let mut backoff = Backoff::new(options.backoff_min, options.backoff_max);
    let mut due: Option<Instant> = Some(Instant::now());
    let mut online = false;
    // Whether a round has run: before that, "online" is not known yet, so nothing is "back".
    let mut tried = false;
    let mut last_pending = store.pending_count()?;
    let mut heard: Option<News> = None;
    while !stop.load(Ordering::Relaxed) {
        if due.is_some_and(|d| Instant::now() >= d) {
            let mut on_progress = |p: &Progress| on_event(&WatchEvent::Progress(p.clone()));
            let result = match heard.take() {
                Some(news) => sync_round_after_news(store, &*transport, &mut on_progress, news),
                None => sync_round(store, &*transport, &mut on_progress),
            };
            match result {
                Ok(report) => {
                    cursor.store(report.cursor, Ordering::Relaxed);
                    online = true;
                    tried = true;
                    due = if report.pending == 0 {
                        backoff.reset();
                        None
                    } else if report.unanswered > 0 {
                        // The server took the batch but left changes out: do not insist at once.
                        Some(Instant::now() + backoff.next())
                    } else {
                        // Changes made during the round: send them next.
                        backoff.reset();
                        Some(Instant::now() + options.outbox_check)
                    };
                    on_event(&WatchEvent::Synced(report));
                }
                Err(error) => {
                    online = false;
                    tried = true;
                    let retry_in = backoff.next();
                    due = Some(Instant::now() + retry_in);
                    on_event(&WatchEvent::Failed { error, retry_in });
                }
            }
            last_pending = store.pending_count()?;
        }
        let mut wait = options.outbox_check;
        if let Some(d) = due {
            wait = wait.min(d.saturating_duration_since(Instant::now()));
        }
        match news.recv_timeout(wait) {
            Ok(first) => {
                // Everything the poll said since: the latest news, and whether the server answered
                // last.
                let (mut latest, mut answered) = (None, None);
                for said in std::iter::once(first).chain(news.try_iter()) {
                    match said {
                        Heard::News(n) => (latest, answered) = (Some(n), Some(Ok(()))),
                        Heard::Quiet => answered = Some(Ok(())),
                        Heard::Lost(error) => answered = Some(Err(error)),
                    }
                }
                match answered {
                    Some(Err(error)) if online => {
                        online = false;
                        on_event(&WatchEvent::Unreachable(error));
                    }
                    Some(Ok(())) if !online && tried => {
                        online = true;
                        on_event(&WatchEvent::Reachable);
                        if store.pending_count()? > 0 {
                            backoff.reset();
                            due = Some(Instant::now());
                        }
                    }
                    _ => {}
                }
                // News means the server is there: no reason to sit out a backoff.
                if let Some(latest) = latest.filter(|n| n.answer.head > cursor.load(Ordering::Relaxed)) {
                    due = Some(Instant::now());
                    heard = Some(latest);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // No long poll: fall back to a round every poll period.
                if due.is_none() {
                    due = Some(Instant::now() + options.long_poll);
                }
            }
        }
        let pending = store.pending_count()?;
        if pending > last_pending && online && due.is_none() {
            due = Some(Instant::now());
        }
        last_pending = pending;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_limit_and_starts_over_when_reset() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let waits: Vec<Duration> = (0..10).map(|_| b.next()).collect();
        assert!(waits[0] >= Duration::from_millis(500) && waits[0] <= Duration::from_secs(1), "{waits:?}");
        assert!(waits[3] >= Duration::from_secs(4) && waits[3] <= Duration::from_secs(8), "{waits:?}");
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(60)), "never more than the limit: {waits:?}");
        assert!(waits[9] >= Duration::from_secs(30), "the limit is reached, jitter aside: {waits:?}");
        b.reset();
        assert!(b.next() <= Duration::from_secs(1), "after a good round the next failure waits briefly again");
    }
}
