//! Durability off the writer's turn: the WAL's fsync on a thread of its own.
//!
//! With `synchronous = FULL` SQLite fsyncs the WAL inside COMMIT, while the
//! connection still holds the database's only write lock: for the 1–1.5 ms of
//! each fsync no other write could run, a third of the writer's time under a
//! stream of revocations. The writer therefore runs `synchronous = NORMAL`
//! (COMMIT writes the WAL and returns; SQLite's checkpoints still fsync it
//! first) and this thread fsyncs the WAL after COMMITs, one fsync for every
//! COMMIT since the last. While it waits on the disk the next batch runs.
//!
//! What a client sees is unchanged: `group_commit` answers a batch's members
//! only once an fsync that began after their COMMIT has finished, so a 2xx
//! still means durable against power loss. What changes is that a COMMIT is
//! visible to readers up to one fsync before it is durable. Everything that
//! leaves certd signed or sent (OCSP answers, CRLs, webhook events) first
//! waits for [`WalSync::wait_all`], so nothing published can be undone by a
//! power cut; API reads may show such a write for that millisecond (see
//! docs/decisions.md, "Durability").
//!
//! A failed fsync cannot be retried: Linux may already have dropped the
//! unwritten pages. Every waiting member fails and every later write is
//! refused until certd restarts and SQLite recovers the WAL from the disk.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::watch;

use super::{StoreError, StoreResult};

/// A COMMIT's place in the WAL: COMMITs are numbered in the order the single
/// writer runs them.
pub(super) type CommitNumber = u64;

pub(super) struct WalSync {
    shared: Arc<Shared>,
    synced: watch::Receiver<Synced>,
}

struct Shared {
    commits: Mutex<Commits>,
    wake: Condvar,
}

#[derive(Default)]
struct Commits {
    /// The newest COMMIT begun. A reader may see its changes before it
    /// returns, so [`WalSync::wait_all`] waits for this one.
    begun: CommitNumber,
    /// The newest COMMIT finished: its WAL frames are written.
    written: CommitNumber,
    stop: bool,
}

/// How far the WAL is durable, or why it never will be.
#[derive(Debug, Clone, Default)]
struct Synced {
    upto: CommitNumber,
    failed: Option<Arc<str>>,
}

impl WalSync {
    /// Starts the thread for the database at `db_path`, whose WAL file must
    /// exist (any connection in WAL mode has created it).
    pub(super) fn start(db_path: &Path) -> StoreResult<WalSync> {
        let mut wal_path = db_path.as_os_str().to_owned();
        wal_path.push("-wal");
        let wal = File::open(&wal_path).map_err(|e| unavailable("opening the WAL", e))?;
        // SQLite in FULL mode makes the WAL's directory entry durable at its
        // first fsync; NORMAL leaves that to the first checkpoint.
        if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| unavailable("syncing the database directory", e))?;
        }
        WalSync::start_with(move || wal.sync_data())
    }

    /// Starts the thread with `sync` as the fsync (tests hold it back or make
    /// it fail).
    pub(super) fn start_with(
        mut sync: impl FnMut() -> io::Result<()> + Send + 'static,
    ) -> StoreResult<WalSync> {
        let shared = Arc::new(Shared {
            commits: Mutex::default(),
            wake: Condvar::new(),
        });
        let (report, synced) = watch::channel(Synced::default());
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("certd-wal-sync".into())
            .spawn(move || thread_shared.run(&mut sync, &report))
            .map_err(|e| unavailable("starting the WAL sync thread", e))?;
        Ok(WalSync { shared, synced })
    }

    /// Called by the writer just before COMMIT; returns the COMMIT's number.
    pub(super) fn commit_begins(&self) -> CommitNumber {
        let mut commits = self.shared.lock();
        commits.begun += 1;
        commits.begun
    }

    /// Called by the writer once COMMIT `number` has returned, whatever its
    /// outcome: its frames (if any) are in the WAL, for the next fsync.
    pub(super) fn commit_written(&self, number: CommitNumber) {
        self.shared.lock().written = number;
        self.shared.wake.notify_one();
    }

    /// Returns once COMMIT `number` is durable.
    pub(super) async fn wait(&self, number: CommitNumber) -> StoreResult<()> {
        let mut synced = self.synced.clone();
        let state = synced
            .wait_for(|s| s.failed.is_some() || s.upto >= number)
            .await
            .map_err(|_| StoreError::CommitFailed("the WAL sync thread stopped".into()))?;
        match &state.failed {
            Some(error) if state.upto < number => Err(StoreError::CommitFailed(error.to_string())),
            _ => Ok(()),
        }
    }

    /// Returns once every COMMIT begun so far is durable: call it after a
    /// read whose result leaves certd, so that nothing a power cut could
    /// undo is published.
    pub(super) async fn wait_all(&self) -> StoreResult<()> {
        let newest = self.shared.lock().begun;
        self.wait(newest).await
    }

    /// Why writes are refused, once an fsync has failed.
    pub(super) fn failure(&self) -> Option<StoreError> {
        let failed = self.synced.borrow().failed.clone();
        failed.map(|error| StoreError::CommitFailed(error.to_string()))
    }
}

impl Drop for WalSync {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Commits> {
        self.commits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fsyncs whenever COMMITs were written since the last fsync, until the
    /// first failure or until the `WalSync` is dropped.
    fn run(&self, sync: &mut dyn FnMut() -> io::Result<()>, report: &watch::Sender<Synced>) {
        let mut upto = 0;
        loop {
            let target = {
                let mut commits = self.lock();
                while commits.written == upto && !commits.stop {
                    commits = self.wake.wait(commits).unwrap_or_else(|e| e.into_inner());
                }
                if commits.stop {
                    return;
                }
                commits.written
            };
            if let Err(error) = sync() {
                tracing::error!(%error, "fsync of the SQLite WAL failed; refusing writes until restart");
                let failed = format!("the database log could not be made durable: {error}");
                report.send_modify(|s| s.failed = Some(failed.into()));
                return;
            }
            upto = target;
            metrics::counter!("certd_sqlite_wal_syncs_total").increment(1);
            report.send_modify(|s| s.upto = upto);
        }
    }
}

/// A start-up failure: the database cannot be written durably.
fn unavailable(what: &str, error: io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {error}").into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// An fsync that counts its calls and fails from call `fail_at` on.
    fn counting_sync(
        fail_at: usize,
    ) -> (
        Arc<AtomicUsize>,
        impl FnMut() -> io::Result<()> + Send + 'static,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let sync = move || {
            let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::sleep(Duration::from_millis(2));
            if call >= fail_at {
                Err(io::Error::other("disk gone"))
            } else {
                Ok(())
            }
        };
        (calls, sync)
    }

    #[tokio::test]
    async fn a_commit_is_durable_only_after_an_fsync_that_followed_it() {
        let (calls, sync) = counting_sync(usize::MAX);
        let wal = WalSync::start_with(sync).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing to sync yet");
        let first = wal.commit_begins();
        wal.commit_written(first);
        wal.wait(first).await.unwrap();
        assert!(calls.load(Ordering::SeqCst) >= 1);
        // A COMMIT begun but not written holds back wait_all.
        let second = wal.commit_begins();
        let all = tokio::time::timeout(Duration::from_millis(50), wal.wait_all()).await;
        assert!(
            all.is_err(),
            "wait_all returned before COMMIT {second} was written"
        );
        wal.commit_written(second);
        wal.wait_all().await.unwrap();
    }

    #[tokio::test]
    async fn one_fsync_covers_every_commit_written_before_it() {
        let (calls, sync) = counting_sync(usize::MAX);
        let wal = WalSync::start_with(sync).unwrap();
        let mut last = 0;
        for _ in 0..50 {
            last = wal.commit_begins();
            wal.commit_written(last);
        }
        wal.wait(last).await.unwrap();
        assert!(
            calls.load(Ordering::SeqCst) < 50,
            "50 quick COMMITs took {} fsyncs",
            calls.load(Ordering::SeqCst)
        );
    }

    #[tokio::test]
    async fn a_failed_fsync_fails_the_waiting_commits_and_refuses_later_ones() {
        let (_calls, sync) = counting_sync(2);
        let wal = WalSync::start_with(sync).unwrap();
        let first = wal.commit_begins();
        wal.commit_written(first);
        wal.wait(first).await.unwrap();
        assert!(wal.failure().is_none());
        let second = wal.commit_begins();
        wal.commit_written(second);
        let error = wal.wait(second).await.unwrap_err();
        assert!(error.to_string().contains("disk gone"), "{error}");
        assert!(wal.failure().is_some());
        // What the good fsync covered stays durable; nothing later is.
        wal.wait(first).await.unwrap();
        let third = wal.commit_begins();
        wal.commit_written(third);
        assert!(wal.wait(third).await.is_err());
    }
}
