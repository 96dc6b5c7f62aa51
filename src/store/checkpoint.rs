//! WAL checkpoints off the write path.
//!
//! By default SQLite checkpoints inside the COMMIT that takes the WAL past
//! 1,000 pages: that COMMIT copies every page back into the database file and
//! fsyncs it twice, some 5–10 ms, while the whole batch waits for its answer
//! and the next batch for the writer. Under a stream of revocations that was
//! one batch in ten, and it set the p99 (45–180 ms with it, 12–15 ms
//! without; docs/benchmarks.md).
//!
//! So the writer never checkpoints by itself (`wal_autocheckpoint = 0`).
//! A thread of its own, on its own connection, runs a PASSIVE checkpoint every
//! [`INTERVAL`]: it copies committed pages beside the writer and its readers
//! and waits for neither. That alone would let the WAL grow for ever under a
//! steady load, though: SQLite starts the WAL file over only when a write
//! transaction begins with every committed page already copied, and with the
//! writer committing while the checkpoint runs, that moment never comes. Once
//! the WAL holds [`RESTART_FRAMES`], the writer therefore checkpoints once
//! itself, between two batches and after answering the last one (see
//! `group_commit`): by then the thread has copied nearly everything, so the
//! writer's turn is short, and its next batch starts the WAL over.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use super::StoreResult;
use super::sqlite::SqliteConn;

/// How often the thread checkpoints.
const INTERVAL: Duration = Duration::from_millis(50);
/// WAL frames (pages) after which the writer restarts the WAL: 128 MiB of
/// 4 KiB pages, a few seconds of revocations at full speed. Every restart
/// holds the writer for a checkpoint; at 32 MiB, with batches of 16, those
/// pauses set the p99 at 1,000,000 certificates (19.7–21.4 ms against
/// 15.0–15.2 ms at 128 MiB, same rate; docs/benchmarks.md).
#[cfg(not(test))]
pub(super) const RESTART_FRAMES: u64 = 32768;
/// Small enough that a test goes round a few times in a second.
#[cfg(test)]
pub(super) const RESTART_FRAMES: u64 = 256;

/// SQLite reuses the WAL file after starting it over, at whatever size it
/// once reached: a WAL that grew while a long read held it (a backup, say)
/// would keep that size on disk for ever. Truncating it, when it starts over,
/// to what a restart cycle fills keeps it at about that.
pub(super) fn wal_size_limit_pragma() -> String {
    format!("PRAGMA journal_size_limit = {}", RESTART_FRAMES * PAGE_SIZE)
}

/// SQLite's default page size, which certd keeps.
const PAGE_SIZE: u64 = 4096;

/// Set by the checkpoint thread when the WAL is due to start over, cleared by
/// the writer once it has checkpointed. Meanwhile the thread leaves the WAL to
/// the writer: two checkpoints at once would make the writer wait.
#[derive(Default)]
pub(super) struct RestartDue(AtomicBool);

impl RestartDue {
    pub(super) fn is_due(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub(super) fn done(&self) {
        self.0.store(false, Ordering::Release);
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The checkpoint thread; it stops when this is dropped.
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts the thread on a connection of its own to the database at `path`.
    pub(super) fn start(
        path: &Path,
        pragmas: &str,
        due: Arc<RestartDue>,
    ) -> StoreResult<Checkpointer> {
        let conn = SqliteConn::open(path, pragmas)?;
        let (stop, stopped) = mpsc::channel();
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(conn, &path, &stopped, &due))
            .map_err(|error| super::StoreError::Unavailable(Box::new(error)))?;
        Ok(Checkpointer { _stop: stop })
    }
}

fn run(conn: SqliteConn, path: &Path, stopped: &mpsc::Receiver<()>, due: &RestartDue) {
    // The sender is never used: its drop ends the wait with `Disconnected`.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        if due.is_due() {
            continue;
        }
        match conn.checkpoint() {
            Ok(frames) if frames >= RESTART_FRAMES => due.set(),
            Ok(_) => {}
            // Busy or a full disk: the next round tries again, and the writer
            // keeps working meanwhile (the WAL only grows).
            Err(error) => tracing::warn!(db = %path.display(), %error, "WAL checkpoint failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PAGE_SIZE as PAGE, RESTART_FRAMES};

    /// Under a steady stream of writes (a reader beside them) the WAL is
    /// copied back and started over: it stays near `RESTART_FRAMES` instead of
    /// holding every page ever written, and every row stays readable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_a_steady_load() {
        let (dir, store) = crate::store::test_store(
            "CREATE TABLE scratch (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
        )
        .await;

        // Twenty times the restart size, a page of data per row, in small
        // batches spread over more than a second of checkpoint rounds.
        let rows = 20 * RESTART_FRAMES;
        for batch in 0..rows / 64 {
            let mut tx = store.write().await.unwrap();
            for _ in 0..64 {
                tx.execute(sqlx::query(
                    "INSERT INTO scratch (data) VALUES (zeroblob(4000))",
                ))
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
            let mut reader = store.read().await.unwrap();
            let count: i64 = reader
                .scalar_one(sqlx::query_scalar("SELECT COUNT(*) FROM scratch"))
                .await
                .unwrap();
            assert_eq!(count as u64, (batch + 1) * 64);
            if batch % 8 == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        let wal = std::fs::metadata(dir.path().join("certd.db-wal"))
            .unwrap()
            .len();
        assert!(
            wal < 6 * RESTART_FRAMES * PAGE,
            "WAL of {wal} bytes after {rows} pages written: it never started over"
        );
    }

    /// A page of data per row, in batches of 64 rows.
    async fn write_pages(store: &crate::store::Store, pages: u64) {
        for _ in 0..pages / 64 {
            let mut tx = store.write().await.unwrap();
            for _ in 0..64 {
                tx.execute(sqlx::query(
                    "INSERT INTO scratch (data) VALUES (zeroblob(4000))",
                ))
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// A long read (a backup, say) keeps the WAL from starting over, so it
    /// grows meanwhile; once the read ends, the WAL file goes back to about
    /// a restart cycle's size instead of keeping its peak on disk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wal_grown_behind_a_long_read_shrinks_after_it() {
        let (dir, store) = crate::store::test_store(
            "CREATE TABLE scratch (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
        )
        .await;
        let wal_file = dir.path().join("certd.db-wal");
        let wal_size = || std::fs::metadata(&wal_file).unwrap().len();

        let long_read = rusqlite::Connection::open(dir.path().join("certd.db")).unwrap();
        long_read.execute_batch("BEGIN").unwrap();
        let _: i64 = long_read
            .query_row("SELECT COUNT(*) FROM scratch", [], |row| row.get(0))
            .unwrap();
        write_pages(&store, 8 * RESTART_FRAMES).await;
        let grown = wal_size();
        assert!(
            grown > 6 * RESTART_FRAMES * PAGE,
            "WAL of {grown} bytes: the long read did not hold it"
        );

        long_read.execute_batch("COMMIT").unwrap();
        let mut shrunk = grown;
        for _ in 0..100 {
            write_pages(&store, 64).await;
            shrunk = wal_size();
            if shrunk <= 2 * RESTART_FRAMES * PAGE {
                return;
            }
        }
        panic!("WAL still {shrunk} bytes (peak {grown}) after the long read ended");
    }
}
