//! A heartbeat on PostgreSQL. A dedicated connection (outside the pool, so a busy pool is never
//! mistaken for a silent database) answers `SELECT 1` every [`BEAT`]. When it has gone longer
//! than the store's `heartbeat_timeout` without an answer, the database is silent: a network
//! that drops packets without a reset, or a server that stopped answering. A request waiting on
//! the database can then give up (see [`crate::Watch`]) instead of hanging for the whole outage.
//!
//! libpq's `tcp_user_timeout` and keepalives catch a dead network on their own too, but only
//! where the kernel sees unacknowledged data; a proxy or load balancer in between that accepts
//! and then stops forwarding hides that, and so does a stuck server. The heartbeat sees both.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::moment::Moment;

/// How often the heartbeat asks.
const BEAT: Duration = Duration::from_millis(250);

/// The heartbeat of one store; the thread ends (and closes its connection) once this is dropped.
pub(crate) struct Pulse {
    state: Arc<PulseState>,
}

/// What the heartbeat thread and every watcher share.
pub(crate) struct PulseState {
    last_answer: Moment,
    timeout: Duration,
    stopped: AtomicBool,
    /// Whether the silence now going on has been logged (once at its start, once at its end).
    reported: AtomicBool,
}

impl PulseState {
    /// How long the database has gone without answering, once that is past the timeout.
    pub(crate) fn silence(&self) -> Option<Duration> {
        if self.stopped.load(Ordering::Acquire) {
            return None;
        }
        let quiet = self.last_answer.ago();
        if quiet <= self.timeout {
            return None;
        }
        if !self.reported.swap(true, Ordering::AcqRel) {
            log::warn!(
                "the database has not answered its heartbeat for {} ms: requests waiting on it \
                 are answered 503",
                quiet.as_millis()
            );
        }
        Some(quiet)
    }

    fn answered(&self) {
        if self.reported.swap(false, Ordering::AcqRel) {
            log::info!(
                "the database answers again after {} ms without an answer",
                self.last_answer.ago().as_millis()
            );
        }
        self.last_answer.set_now();
    }
}

impl Pulse {
    /// Starts the heartbeat on `url` (already carrying the network settings). It counts as
    /// answering from the start: the store has just connected.
    pub(crate) fn start(url: String, timeout: Duration) -> Pulse {
        let state = Arc::new(PulseState {
            last_answer: Moment::now(),
            timeout,
            stopped: AtomicBool::new(false),
            reported: AtomicBool::new(false),
        });
        let beating = state.clone();
        let spawned = thread::Builder::new()
            .name("db-heartbeat".into())
            .spawn(move || beat(&url, &beating));
        if let Err(e) = spawned {
            // Without the thread every request would soon look stuck; say so, and let the pool's
            // own timeouts bound requests as before.
            log::error!("the database heartbeat could not start: {e}");
            state.stopped.store(true, Ordering::Release);
        }
        Pulse { state }
    }

    pub(crate) fn state(&self) -> &Arc<PulseState> {
        &self.state
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::Release);
    }
}

fn beat(url: &str, state: &PulseState) {
    let mut conn: Option<PgConnection> = None;
    while !state.stopped.load(Ordering::Acquire) {
        let alive = match conn.as_mut() {
            Some(conn) => conn.batch_execute("SELECT 1").is_ok(),
            None => PgConnection::establish(url)
                .map(|fresh| conn = Some(fresh))
                .is_ok(),
        };
        if alive {
            state.answered();
        } else {
            // A connection that failed is dropped; the next beat connects afresh.
            conn = None;
        }
        thread::sleep(BEAT);
    }
}
