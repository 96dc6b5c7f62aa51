//! Group commit for SQLite.
//!
//! SQLite has one writer, and every durable COMMIT waits for an fsync (0.5–1.4
//! ms on the benchmark machine), so one transaction and fsync per request caps
//! writes near 700–2,000/s whatever the CPU does. Instead, writers take turns
//! on one dedicated connection inside a shared transaction, each inside a
//! SAVEPOINT of its own:
//!
//! - a writer that fails, or is dropped, rolls back to its savepoint and
//!   leaves the others' changes alone;
//! - a writer that succeeds joins the batch; if no other writer is queued
//!   behind it (or the batch is full or old), it COMMITs for everyone,
//!   otherwise it leaves that to the next one;
//! - `commit()` returns only once the COMMIT holding the writer's changes has
//!   finished and an fsync of the WAL after it too (`wal_sync`: the fsync runs
//!   beside the next batch), with their outcome. So "2xx means committed"
//!   holds exactly as with one transaction per request: nobody is answered
//!   before the fsync, and a failed COMMIT or fsync fails every member.
//!
//! Members of one batch are serialised in lock order (the lock is FIFO), and
//! each sees the changes of the members before it, as it would have after
//! their commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use super::checkpoint::RestartDue;
use super::sqlite::SqliteConn;
use super::wal_sync::{CommitNumber, WalSync};
use super::{StoreError, StoreResult};

/// A batch is committed at this many members even if writers are queued...
/// Since the fsync left the COMMIT (`wal_sync`), a COMMIT costs little
/// beyond its pages, and a smaller batch answers its first members sooner and
/// lets the next batch run during its fsync: 16 gave 7,700–7,900
/// revocations/s where 512 (batches of about 20, bounded by the clients) gave
/// 6,000–7,300 (docs/benchmarks.md).
const MAX_MEMBERS: usize = 16;
/// ...or once it has been open this long, so queued writers cannot keep the
/// first member waiting indefinitely.
const MAX_AGE: Duration = Duration::from_millis(10);
/// A member that has heard nothing for this long commits the batch itself.
/// Every path settles its batch, so this is a safety net, not a timing.
const STALL: Duration = Duration::from_secs(1);

/// The outcome of a batch's COMMIT, sent to each member: the COMMIT's
/// number, whose fsync the member then waits for.
type Outcome = Result<CommitNumber, String>;
type BatchGuard = OwnedMutexGuard<Batch>;

/// Counts since start, for `/metrics` (writes per commit = batch size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GroupCommitStats {
    pub commits: u64,
    pub writes: u64,
}

pub(super) struct GroupWriter {
    batch: Arc<Mutex<Batch>>,
    wal: Arc<WalSync>,
    stats: Arc<Counters>,
    /// Writers waiting for the lock: while there are some, a finishing member
    /// leaves the COMMIT to them.
    queued: Arc<AtomicUsize>,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
}

struct Batch {
    conn: SqliteConn,
    wal: Arc<WalSync>,
    stats: Arc<Counters>,
    restart_due: Arc<RestartDue>,
    /// `Some` between BEGIN and COMMIT.
    open: Option<OpenBatch>,
}

struct OpenBatch {
    started: Instant,
    members: Vec<oneshot::Sender<Outcome>>,
    /// The newest savepoint; savepoints end with the batch.
    savepoint: Savepoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Savepoint {
    None,
    /// The current member's. Whoever takes the lock while it is still in use
    /// (the member was dropped or cancelled) rolls it back first.
    InUse,
    /// A committed member's, released by the next member's SAVEPOINT or by
    /// COMMIT (a deeper stack would make SQLite journal more).
    Kept,
}

// Statements run in the member's task, synchronously, so a request cancelled
// at an await never stops one halfway; COMMIT too, since it only writes the
// WAL into the page cache. What can wait on the disk or on another process
// runs on blocking threads: BEGIN IMMEDIATE (the write lock, up to
// busy_timeout) and the checkpoint that restarts the WAL. Both finish, and
// settle their batch, whatever happens to the member that started them.

impl GroupWriter {
    /// `conn` runs `synchronous = NORMAL`: `wal` makes its COMMITs durable.
    /// `restart_due` comes from the checkpoint thread (see `checkpoint`).
    pub(super) fn new(conn: SqliteConn, wal: WalSync, restart_due: Arc<RestartDue>) -> GroupWriter {
        let stats = Arc::new(Counters::default());
        let wal = Arc::new(wal);
        GroupWriter {
            stats: Arc::clone(&stats),
            wal: Arc::clone(&wal),
            batch: Arc::new(Mutex::new(Batch {
                conn,
                wal,
                stats,
                restart_due,
                open: None,
            })),
            queued: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub(super) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            writes: self.stats.writes.load(Ordering::Relaxed),
        }
    }

    /// Returns once every COMMIT so far is durable (see `wal_sync`).
    pub(super) async fn wait_durable(&self) -> StoreResult<()> {
        self.wal.wait_all().await
    }

    /// Waits for this writer's turn and opens its savepoint.
    pub(super) async fn begin(&self) -> StoreResult<Member> {
        if let Some(failure) = self.wal.failure() {
            return Err(failure);
        }
        let ticket = QueueTicket::take(self);
        let mut batch = self.batch.clone().lock_owned().await;
        ticket.admitted();
        recover(&mut batch);
        let batch = if batch.open.is_some() {
            if let Err(error) = join_batch(&mut batch) {
                settle(batch, &self.queued, false);
                return Err(error);
            }
            batch
        } else {
            start_batch(batch, self.queued.clone()).await?
        };
        Ok(Member {
            batch: Some(batch),
            writer: self.batch.clone(),
            wal: self.wal.clone(),
            queued: self.queued.clone(),
        })
    }
}

/// One writer's turn on the batch's connection.
pub(super) struct Member {
    /// `None` once handed to `commit`.
    batch: Option<BatchGuard>,
    writer: Arc<Mutex<Batch>>,
    wal: Arc<WalSync>,
    queued: Arc<AtomicUsize>,
}

impl Member {
    pub(super) fn conn(&self) -> &SqliteConn {
        // Only `commit` takes the guard, and it consumes the member.
        &self
            .batch
            .as_deref()
            .expect("member used after commit")
            .conn
    }

    /// Keeps this member's changes and returns once they are durable: its
    /// batch COMMITted, then the WAL fsynced.
    pub(super) async fn commit(mut self) -> StoreResult<()> {
        let Some(mut batch) = self.batch.take() else {
            return Ok(());
        };
        let (sender, mut outcome) = oneshot::channel();
        // The savepoint is released by the next member's SAVEPOINT or by
        // COMMIT, saving a statement per writer.
        match batch.open.as_mut() {
            Some(open) => {
                open.savepoint = Savepoint::Kept;
                open.members.push(sender);
            }
            None => drop(sender),
        }
        settle(batch, &self.queued, false);
        loop {
            match tokio::time::timeout(STALL, &mut outcome).await {
                Ok(Ok(Ok(number))) => return self.wal.wait(number).await,
                Ok(Ok(Err(error))) => return Err(StoreError::CommitFailed(error)),
                Ok(Err(_)) => {
                    return Err(StoreError::CommitFailed(
                        "the batch ended without an outcome".into(),
                    ));
                }
                Err(_) => {
                    let batch = self.writer.clone().lock_owned().await;
                    settle(batch, &self.queued, true);
                }
            }
        }
    }
}

impl Drop for Member {
    /// Dropped without commit (an error, or a cancelled request): undo this
    /// member's changes, then settle the batch, which others may wait on.
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            // `settle` rolls the savepoint back first.
            settle(batch, &self.queued, false);
        }
    }
}

/// Counts a writer as queued until it holds the lock. A writer cancelled
/// while queued may have been the one the last member left the COMMIT to, so
/// it settles the batch on its way out.
struct QueueTicket<'a> {
    writer: &'a GroupWriter,
    admitted: bool,
}

impl<'a> QueueTicket<'a> {
    fn take(writer: &'a GroupWriter) -> Self {
        writer.queued.fetch_add(1, Ordering::SeqCst);
        QueueTicket {
            writer,
            admitted: false,
        }
    }

    fn admitted(mut self) {
        self.admitted = true;
    }
}

impl Drop for QueueTicket<'_> {
    fn drop(&mut self) {
        self.writer.queued.fetch_sub(1, Ordering::SeqCst);
        if self.admitted {
            return;
        }
        let (lock, queued) = (self.writer.batch.clone(), self.writer.queued.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                settle(lock.lock_owned().await, &queued, false);
            });
        }
    }
}

/// Opens a batch and the first member's savepoint, on a blocking thread.
async fn start_batch(batch: BatchGuard, queued: Arc<AtomicUsize>) -> StoreResult<BatchGuard> {
    let (reply, started) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut batch = batch;
        match begin_batch(&mut batch) {
            Ok(()) => {
                if let Err(Ok(batch)) = reply.send(Ok(batch)) {
                    // The member went away while waiting: `settle` rolls its
                    // savepoint back.
                    settle(batch, &queued, false);
                }
            }
            Err(error) => {
                let _ = reply.send(Err(error));
            }
        }
    });
    started
        .await
        .map_err(|_| StoreError::CommitFailed("the writer task stopped".into()))?
}

fn begin_batch(batch: &mut Batch) -> StoreResult<()> {
    if let Err(error) = batch.conn.batch("BEGIN IMMEDIATE; SAVEPOINT member") {
        // BEGIN may have worked and SAVEPOINT not; start from a clean slate.
        let _ = batch.conn.batch("ROLLBACK");
        return Err(error);
    }
    batch.open = Some(OpenBatch {
        started: Instant::now(),
        members: Vec::new(),
        savepoint: Savepoint::InUse,
    });
    Ok(())
}

/// Opens the next member's savepoint in the open batch.
fn join_batch(batch: &mut Batch) -> StoreResult<()> {
    let Some(open) = batch.open.as_mut() else {
        return Err(StoreError::CommitFailed("no open batch to join".into()));
    };
    let sql = if open.savepoint == Savepoint::Kept {
        "RELEASE SAVEPOINT member; SAVEPOINT member"
    } else {
        "SAVEPOINT member"
    };
    match batch.conn.batch(sql) {
        Ok(()) => {
            open.savepoint = Savepoint::InUse;
            Ok(())
        }
        Err(error) => {
            // None of ours to roll back (a kept one that failed to release
            // only deepens the stack until COMMIT).
            open.savepoint = Savepoint::None;
            Err(error)
        }
    }
}

/// Rolls back a savepoint left in use by a member that did not commit. If
/// even that fails, the connection's state is unknown: the whole batch is
/// rolled back and fails.
fn recover(batch: &mut Batch) {
    let Some(open) = batch.open.as_mut() else {
        return;
    };
    if open.savepoint != Savepoint::InUse {
        return;
    }
    open.savepoint = Savepoint::None;
    let undone = batch
        .conn
        .batch("ROLLBACK TO SAVEPOINT member; RELEASE SAVEPOINT member");
    if let Err(error) = undone {
        let _ = batch.conn.batch("ROLLBACK");
        if let Some(open) = batch.open.take() {
            tell(open, Err(format!("rolling back a failed writer: {error}")));
        }
    }
}

/// Commits the open batch unless a queued writer will (and the batch is
/// neither full nor old); the lock is released once that is decided, or
/// after the COMMIT.
fn settle(mut batch: BatchGuard, queued: &AtomicUsize, force: bool) {
    // Never commit a savepoint nobody finished.
    recover(&mut batch);
    let Some(open) = batch.open.as_ref() else {
        return;
    };
    let due = open.members.len() >= MAX_MEMBERS || open.started.elapsed() >= MAX_AGE;
    if !force && !due && queued.load(Ordering::SeqCst) > 0 {
        return;
    }
    // Decided once: the checkpoint must not land on an async worker.
    let restart = batch.restart_due.is_due();
    if !restart {
        return commit(batch, false);
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || commit(batch, true))),
        Err(_) => commit(batch, true),
    }
}

/// COMMITs the batch and tells every member which COMMIT holds their
/// changes (its fsync follows on the WAL thread); then, if `restart` (the WAL
/// is due to start over), checkpoints before the next batch (see
/// `checkpoint`).
fn commit(mut batch: BatchGuard, restart: bool) {
    let Some(open) = batch.open.take() else {
        return;
    };
    let number = batch.wal.commit_begins();
    let committed = batch.conn.batch("COMMIT");
    batch.wal.commit_written(number);
    let outcome = match committed {
        Ok(()) => {
            batch.stats.commits.fetch_add(1, Ordering::Relaxed);
            let writes = open.members.len() as u64;
            batch.stats.writes.fetch_add(writes, Ordering::Relaxed);
            Ok(number)
        }
        Err(error) => {
            // After a failed COMMIT SQLite may or may not have rolled back.
            let _ = batch.conn.batch("ROLLBACK");
            Err(error.to_string())
        }
    };
    if !restart {
        drop(batch);
        tell(open, outcome);
        return;
    }
    // The members need not wait for the checkpoint; the next batch must.
    tell(open, outcome);
    if let Err(error) = batch.conn.checkpoint() {
        tracing::warn!(%error, "WAL checkpoint by the writer failed");
    }
    batch.restart_due.done();
}

fn tell(open: OpenBatch, outcome: Outcome) {
    for member in open.members {
        // A member whose request was cancelled no longer listens.
        let _ = member.send(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use sqlx::Connection;

    use super::{GroupWriter, Member, RestartDue, SqliteConn, WalSync};

    use crate::store::Store;

    async fn store_with_table() -> (tempfile::TempDir, Arc<Store>) {
        let (dir, store) = crate::store::test_store(
            "CREATE TABLE scratch (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL)",
        )
        .await;
        (dir, Arc::new(store))
    }

    /// A write transaction holding one uncommitted row.
    async fn write_row(store: &Store, writer: i64) -> crate::store::WriteTx {
        let mut tx = store.write().await.unwrap();
        tx.execute(sqlx::query("INSERT INTO scratch (writer) VALUES ($1)").bind(writer))
            .await
            .unwrap();
        tx
    }

    async fn insert(store: &Store, writer: i64) {
        write_row(store, writer).await.commit().await.unwrap();
    }

    /// What a fresh connection sees: only committed rows.
    async fn committed_writers(store: &Store) -> Vec<i64> {
        let mut conn = sqlx::AnyConnection::connect(&store.url).await.unwrap();
        sqlx::query_scalar("SELECT writer FROM scratch ORDER BY writer")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_commits_and_each_is_durable_on_return() {
        let (_dir, store) = store_with_table().await;
        let before = store.group_commit_stats().unwrap();
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..64 {
            let store = Arc::clone(&store);
            writers.spawn(async move {
                insert(&store, writer).await;
                // Returned from commit: a connection of its own must see the row.
                let seen = committed_writers(&store).await;
                assert!(
                    seen.contains(&writer),
                    "writer {writer} not committed on return"
                );
            });
        }
        while let Some(done) = writers.join_next().await {
            done.unwrap();
        }
        assert_eq!(committed_writers(&store).await, (0..64).collect::<Vec<_>>());
        let after = store.group_commit_stats().unwrap();
        assert_eq!(after.writes - before.writes, 64);
        assert!(
            after.commits - before.commits < 64,
            "64 concurrent writers should share commits, got {} commits",
            after.commits - before.commits
        );
    }

    /// A writer on a fresh database in `dir` whose WAL fsync is `sync`.
    fn writer_with_sync(
        dir: &std::path::Path,
        sync: impl FnMut() -> std::io::Result<()> + Send + 'static,
    ) -> GroupWriter {
        let pragmas = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
        let conn = SqliteConn::open(&dir.join("t.db"), pragmas).unwrap();
        conn.batch("CREATE TABLE scratch (id INTEGER PRIMARY KEY)")
            .unwrap();
        let restart_due = Arc::new(RestartDue::default());
        GroupWriter::new(conn, WalSync::start_with(sync).unwrap(), restart_due)
    }

    async fn insert_scratch(writer: &GroupWriter) -> Member {
        let member = writer.begin().await.unwrap();
        member
            .conn()
            .batch("INSERT INTO scratch DEFAULT VALUES")
            .unwrap();
        member
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_returns_only_after_the_wal_fsync_that_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let writer = writer_with_sync(dir.path(), move || {
            // Each fsync waits for the test (or for the test to end).
            let _ = held.recv();
            Ok(())
        });
        let commit = tokio::spawn(insert_scratch(&writer).await.commit());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!commit.is_finished(), "commit returned before its fsync");
        // The next batch does not wait for that fsync.
        let next = insert_scratch(&writer).await;
        release.send(()).unwrap();
        commit.await.unwrap().unwrap();
        let next = tokio::spawn(next.commit());
        release.send(()).unwrap();
        next.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_fsync_fails_the_commit_and_refuses_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_with_sync(dir.path(), || Err(std::io::Error::other("disk gone")));
        let error = insert_scratch(&writer).await.commit().await.unwrap_err();
        assert!(error.to_string().contains("disk gone"), "{error}");
        match writer.begin().await {
            Ok(_) => panic!("a write was accepted after a failed fsync"),
            Err(error) => assert!(error.to_string().contains("disk gone"), "{error}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_or_cancelled_writer_leaves_the_others_alone() {
        let (_dir, store) = store_with_table().await;
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..30 {
            let store = Arc::clone(&store);
            writers.spawn(async move {
                let tx = write_row(&store, writer).await;
                match writer % 3 {
                    0 => tx.commit().await.unwrap(),
                    // An error path: dropped without commit.
                    1 => drop(tx),
                    // A cancelled request: the future stops inside its transaction.
                    _ => {
                        let stuck = async move {
                            let _tx = tx;
                            std::future::pending::<()>().await;
                        };
                        let _ =
                            tokio::time::timeout(std::time::Duration::from_millis(5), stuck).await;
                    }
                }
            });
        }
        while let Some(done) = writers.join_next().await {
            done.unwrap();
        }
        let expected: Vec<i64> = (0..30).filter(|w| w % 3 == 0).collect();
        assert_eq!(committed_writers(&store).await, expected);
        // And the writer still works afterwards.
        insert(&store, 100).await;
        assert!(committed_writers(&store).await.contains(&100));
    }
}
