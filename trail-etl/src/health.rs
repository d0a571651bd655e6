//! Whether the S3 endpoint a run reads from is answering at all.
//!
//! A run reads thousands of objects with hundreds of GETs in flight. One
//! object that keeps failing while S3 answers the others is that object's
//! problem: it is retried a few times, then reported as a bad object and
//! read again by the next run. When S3 answers nothing (every connection
//! refused, reset or left hanging, or only 5xx errors), retrying every
//! object in turn would take many minutes and report every object as bad.
//! [`Health`] tells the two apart: it notes every sign of life from the
//! endpoint (a response that is not a 5xx, or body bytes), and a GET that
//! has been trying for the give-up time while the endpoint showed no sign of
//! life for as long fails the run with [`Unreachable`], naming the endpoint.
//!
//! ```
//! use std::time::Duration;
//! use trail_etl::health::Health;
//! let health = Health::new("http://127.0.0.1:9", Duration::from_secs(30));
//! let attempt = health.attempt();
//! health.answered();
//! assert!(health.counts(&attempt), "S3 answered meanwhile: the failure is the object's");
//! assert!(health.check(attempt.started()).is_ok());
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a request in flight looks at the endpoint's health.
const POLL: Duration = Duration::from_millis(250);

/// The run stops: the endpoint answered nothing for the give-up time.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "S3 at {endpoint} has not answered for {secs} s (every request refused, failed or left \
     waiting; last error: {last}); stopping the run, nothing was published"
)]
pub struct Unreachable {
    /// The endpoint's address.
    pub endpoint: String,
    /// The give-up time, in seconds.
    pub secs: u64,
    /// The last failure seen.
    pub last: String,
}

/// Signs of life of one S3 endpoint, shared by the requests of a run.
#[derive(Debug)]
pub struct Health {
    endpoint: String,
    give_up: Duration,
    epoch: Instant,
    /// Signs of life so far.
    progress: AtomicU64,
    /// Milliseconds since `epoch` of the last one.
    last_progress_ms: AtomicU64,
    tripped: AtomicBool,
    last_error: Mutex<String>,
}

/// One attempt's view of the endpoint when it started.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    progress: u64,
    started: Instant,
}

impl Attempt {
    /// When the attempt started.
    pub fn started(&self) -> Instant {
        self.started
    }
}

impl Health {
    /// Health of `endpoint` (named in the error), giving up after `give_up` without a sign of life.
    pub fn new(endpoint: &str, give_up: Duration) -> Self {
        Health {
            endpoint: endpoint.to_string(),
            give_up,
            epoch: Instant::now(),
            progress: AtomicU64::new(0),
            last_progress_ms: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
            last_error: Mutex::new("none".into()),
        }
    }

    /// The endpoint answered (a response that is not a 5xx, or body bytes).
    pub fn answered(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_progress_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// A request got no answer (refused, reset, timed out) or a 5xx.
    pub fn failed(&self, error: &str) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = error.to_string();
        }
    }

    /// Note the endpoint's state as an attempt starts.
    pub fn attempt(&self) -> Attempt {
        Attempt {
            progress: self.progress.load(Ordering::Relaxed),
            started: Instant::now(),
        }
    }

    /// Whether a failed attempt counts against its object: the endpoint
    /// showed signs of life since it started, so the failure is the
    /// object's, not the endpoint's.
    pub fn counts(&self, attempt: &Attempt) -> bool {
        self.progress.load(Ordering::Relaxed) > attempt.progress
    }

    /// `Err` once the endpoint is judged unreachable: a request trying
    /// since `since` has waited the give-up time, and the endpoint showed no
    /// sign of life for as long.
    pub fn check(&self, since: Instant) -> Result<(), Unreachable> {
        if !self.tripped.load(Ordering::Relaxed) {
            let last =
                self.epoch + Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
            let quiet_since = last.max(since);
            if quiet_since.elapsed() < self.give_up {
                return Ok(());
            }
            self.tripped.store(true, Ordering::Relaxed);
        }
        Err(self.unreachable())
    }

    /// Run `request` (tried since `since`), stopping it with [`Unreachable`] when the endpoint is.
    pub async fn watch<F: Future>(
        &self,
        since: Instant,
        request: F,
    ) -> Result<F::Output, Unreachable> {
        self.check(since)?;
        tokio::pin!(request);
        loop {
            tokio::select! {
                out = &mut request => return Ok(out),
                () = tokio::time::sleep(POLL) => self.check(since)?,
            }
        }
    }

    /// Wait `delay` (a back-off), stopping early when the endpoint is judged unreachable.
    pub async fn pause(&self, since: Instant, delay: Duration) -> Result<(), Unreachable> {
        self.watch(since, tokio::time::sleep(delay)).await
    }

    fn unreachable(&self) -> Unreachable {
        Unreachable {
            endpoint: self.endpoint.clone(),
            secs: self.give_up.as_secs(),
            last: self
                .last_error
                .lock()
                .map(|l| l.clone())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_for_the_give_up_time_trips_once_and_for_all() {
        let health = Health::new("http://127.0.0.1:1", Duration::from_millis(50));
        let since = Instant::now();
        health.failed("connection refused");
        assert!(health.check(since).is_ok(), "not yet");
        std::thread::sleep(Duration::from_millis(60));
        let err = health.check(since).unwrap_err();
        assert!(err.to_string().contains("http://127.0.0.1:1"), "{err}");
        assert!(err.to_string().contains("connection refused"), "{err}");
        health.answered();
        assert!(
            health.check(Instant::now()).is_err(),
            "a run that gave up stays stopped"
        );
    }

    #[test]
    fn a_sign_of_life_or_a_recent_start_keeps_it_going() {
        let health = Health::new("e", Duration::from_millis(50));
        let old = Instant::now();
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            health.check(Instant::now()).is_ok(),
            "a request that just started"
        );
        health.answered();
        assert!(health.check(old).is_ok(), "the endpoint just answered");
    }

    #[test]
    fn failures_count_against_an_object_only_while_the_endpoint_answers() {
        let health = Health::new("e", Duration::from_secs(30));
        let attempt = health.attempt();
        health.failed("reset");
        assert!(!health.counts(&attempt));
        health.answered();
        assert!(health.counts(&attempt));
    }

    #[tokio::test]
    async fn a_hanging_request_is_stopped() {
        let health = Health::new("e", Duration::from_millis(100));
        let started = Instant::now();
        let out = health.watch(started, std::future::pending::<()>()).await;
        assert!(out.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
