//! Prometheus metrics, one registry per [`AppState`](crate::AppState) (so two servers in one
//! test process count apart), served as text at `GET /metrics`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use labdesk_proto::sync::Outcome;
use prometheus::{Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

use crate::AppState;

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
    revisions: IntCounterVec,
    pull_lag: Histogram,
    snapshots: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("labdesk_sync".into()), None).expect("a valid metric prefix");
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered, by route, method and status."),
            &["route", "method", "status"],
        )
        .expect("valid request counter");
        let durations = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer an HTTP request, by route."),
            &["route"],
        )
        .expect("valid duration histogram");
        let revisions = IntCounterVec::new(
            Opts::new("revisions_total", "Pushed revisions, by outcome (applied, merged, conflicted, rejected)."),
            &["outcome"],
        )
        .expect("valid revision counter");
        let pull_lag = Histogram::with_opts(
            HistogramOpts::new(
                "pull_lag_revisions",
                "How far behind a pulling workstation was: the lab's head minus the cursor it asked with.",
            )
            .buckets(vec![0.0, 1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0]),
        )
        .expect("valid lag histogram");
        let snapshots = IntCounterVec::new(
            Opts::new("snapshots_total", "Lab snapshots this instance set out to build, by result (built, failed)."),
            &["result"],
        )
        .expect("valid snapshot counter");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(durations.clone()),
            Box::new(revisions.clone()),
            Box::new(pull_lag.clone()),
            Box::new(snapshots.clone()),
        ] {
            registry.register(collector).expect("each metric registered once");
        }
        // Every outcome shows from the start, at 0, so a dashboard has its series.
        for outcome in ["applied", "merged", "conflicted", "rejected"] {
            revisions.with_label_values(&[outcome]);
        }
        for result in ["built", "failed"] {
            snapshots.with_label_values(&[result]);
        }
        Self { registry, requests, durations, revisions, pull_lag, snapshots }
    }

    pub fn revision(&self, outcome: Outcome) {
        let label = match outcome {
            Outcome::Applied => "applied",
            Outcome::Merged => "merged",
            Outcome::Conflicted => "conflicted",
            Outcome::Rejected => "rejected",
        };
        self.revisions.with_label_values(&[label]).inc();
    }

    pub fn pull_lag(&self, lag: i64) {
        self.pull_lag.observe(lag.max(0) as f64);
    }

    /// A lab snapshot built and kept.
    pub fn snapshot_built(&self) {
        self.snapshots.with_label_values(&["built"]).inc();
    }

    /// A lab snapshot that could not be built or kept (the log says why).
    pub fn snapshot_failed(&self) {
        self.snapshots.with_label_values(&["failed"]).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware: counts and times every answer by its route pattern (never the raw path, whose
/// ids would make a series per record).
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = state.metrics();
    metrics.requests.with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()]).inc();
    metrics.durations.with_label_values(&[route.as_str()]).observe(started.elapsed().as_secs_f64());
    response
}
