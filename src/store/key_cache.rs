//! The API key lookups of a server on PostgreSQL, kept in memory.
//!
//! Every API call names its key; looking it up is a round trip to the
//! database and a query there, a fifth of PostgreSQL's work per revocation
//! in the benchmark. Keys and users change rarely, so a server keeps what it
//! looked up until something changes:
//!
//! - a trigger on `users` and `api_keys` (migration 0010) sends a notice in
//!   every transaction that changes what a lookup returns, whoever makes it
//!   (any node, `certd` on the command line, hand-written SQL); each server
//!   listens and empties its cache when one arrives;
//! - the server that made the change empties its own at once, before it
//!   answers ([`Conn::mark_credentials_changed`]);
//! - a lookup that began before an emptying is not kept (a generation
//!   count), and while the listener is not connected nothing is kept: a
//!   notice missed then would leave a revoked key usable.
//!
//! Unknown keys are not kept, so guessing cannot fill memory; the cache holds
//! at most [`MAX_KEYS`] keys and each for at most [`MAX_AGE`], whatever
//! happens to notices. SQLite needs none of this: its lookups are local reads
//! of a few microseconds.
//!
//! [`Conn::mark_credentials_changed`]: super::Conn::mark_credentials_changed

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;

use super::users::KeyOwner;

/// The channel of migration 0010's trigger.
const CHANNEL: &str = "certd_credentials";
/// Most keys kept; past it new lookups are not kept until the next emptying.
const MAX_KEYS: usize = 10_000;
/// The longest a lookup is kept, should a notice ever fail to come.
const MAX_AGE: Duration = Duration::from_secs(60);
/// The wait before connecting the listener again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

pub(super) struct KeyCache {
    state: Mutex<State>,
}

struct State {
    /// Counts emptyings: a lookup keeps its result only if none came between.
    generation: u64,
    /// Whether the listener is connected: nothing is kept while it is not.
    listening: bool,
    owners: HashMap<String, (KeyOwner, Instant)>,
}

/// What the cache knows of a key.
pub(super) enum Cached {
    Owner(KeyOwner),
    /// Not kept: look it up, then offer the result with this generation.
    Unknown(u64),
}

/// The cache with its listener, which stops when this is dropped.
pub(super) struct KeyCacheTask {
    pub(super) cache: Arc<KeyCache>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for KeyCacheTask {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl KeyCache {
    /// Starts listening for changes to keys and users on `url`.
    pub(super) fn start(url: String) -> KeyCacheTask {
        let cache = Arc::new(KeyCache {
            state: Mutex::new(State {
                generation: 0,
                listening: false,
                owners: HashMap::new(),
            }),
        });
        let listener = tokio::spawn(listen(url, Arc::clone(&cache)));
        KeyCacheTask { cache, listener }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a map that is
        // still consistent (every change is one call).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, key_hash: &str) -> Cached {
        let state = self.state();
        match state.owners.get(key_hash) {
            Some((owner, kept_at)) if kept_at.elapsed() < MAX_AGE => Cached::Owner(owner.clone()),
            _ => Cached::Unknown(state.generation),
        }
    }

    /// Keeps a lookup's result, unless the cache was emptied since it began.
    pub(super) fn offer(&self, key_hash: &str, owner: &KeyOwner, generation: u64) {
        let mut state = self.state();
        if state.listening && state.generation == generation && state.owners.len() < MAX_KEYS {
            state
                .owners
                .insert(key_hash.to_string(), (owner.clone(), Instant::now()));
        }
    }

    /// Notes a key's recorded use, so that it is not recorded again each call.
    pub(super) fn used(&self, key_hash: &str, at: i64) {
        if let Some((owner, _)) = self.state().owners.get_mut(key_hash) {
            owner.last_used_at = Some(at);
        }
    }

    /// Forgets every lookup: keys or users changed.
    pub(super) fn empty(&self) {
        self.state().forget();
    }

    /// Notes whether the listener is connected, forgetting every lookup in
    /// the same step: whether it was just lost or just made, notices may
    /// have been missed.
    fn set_listening(&self, listening: bool) {
        let mut state = self.state();
        state.forget();
        state.listening = listening;
    }
}

impl State {
    fn forget(&mut self) {
        self.generation += 1;
        self.owners.clear();
    }
}

/// Empties `cache` at each notice; reconnects after a loss, keeping
/// nothing meanwhile.
async fn listen(url: String, cache: Arc<KeyCache>) {
    loop {
        let error = match connect(&url).await {
            Ok(mut listener) => {
                // Changes committed before LISTEN took effect were not
                // announced to us: start empty.
                cache.set_listening(true);
                follow(&mut listener, &cache).await
            }
            Err(error) => error.to_string(),
        };
        cache.set_listening(false);
        tracing::warn!(%error, "the listener for key changes is not connected; reconnecting");
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Empties the cache at each notice; returns why it stopped.
async fn follow(listener: &mut PgListener, cache: &KeyCache) -> String {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => cache.empty(),
            // Notices sent while it was lost are gone.
            Ok(None) => return "connection lost".to_string(),
            Err(error) => return error.to_string(),
        }
    }
}
