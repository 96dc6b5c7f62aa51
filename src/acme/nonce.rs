//! ACME anti-replay nonces (RFC 8555 §6.5).

use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How many of the most recently issued nonces stay redeemable: 2^20 (128 KiB of state).
pub(crate) const WINDOW: u64 = 1 << 20;

const COUNTER_LEN: usize = 8;
const TAG_LEN: usize = 16;
/// base64url of 24 bytes, no padding.
const ENCODED_LEN: usize = (COUNTER_LEN + TAG_LEN) / 3 * 4;

/// Single-use nonces for the `Replay-Nonce` header.
///
/// A nonce is base64url(counter as 8 big-endian bytes || the first 16 bytes of
/// HMAC-SHA256(key, counter)), with a random key and a random starting counter
/// chosen when the process starts. Issuing stores nothing per nonce: the MAC proves
/// this process issued it. Redeeming checks the MAC, that the counter is among the
/// last [`WINDOW`] issued, and a bit in a fixed ring of `WINDOW` bits (slot
/// `counter % WINDOW`, cleared when a new counter takes the slot) so that each is
/// accepted once.
///
/// Why this design: memory is bounded whatever the traffic (no map of outstanding
/// nonces to grow under a flood of `newNonce` requests, no clean-up to schedule),
/// and every operation is O(1) with a critical section of a few instructions. What
/// it gives up is deliberate: after a restart, on another node behind a load
/// balancer, or once more than `WINDOW` newer nonces were issued, a nonce is refused
/// as `badNonce`. RFC 8555 §6.5 expects exactly that: every ACME response, errors
/// included, carries a fresh `Replay-Nonce`, and clients retry a `badNonce` with it.
pub(crate) struct Nonces {
    /// HMAC-SHA256 keyed once; cloned per use, so the key is not re-processed.
    mac: Hmac<Sha256>,
    window: u64,
    state: Mutex<State>,
}

struct State {
    /// The counter of the next nonce to issue.
    next: u64,
    /// One bit per slot: set once the nonce currently in that slot was redeemed.
    used: Box<[u64]>,
}

impl Nonces {
    pub(crate) fn new() -> Self {
        Self::with_window(WINDOW)
    }

    /// Nonces with a smaller (or larger) window of redeemable nonces.
    pub(crate) fn with_window(window: u64) -> Self {
        assert!(window > 0, "a nonce window needs at least one slot");
        let key: [u8; 32] = rand::random();
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        let words = usize::try_from(window.div_ceil(64)).expect("window fits in memory");
        Nonces {
            mac,
            window,
            state: Mutex::new(State {
                // A random start keeps the counter from telling clients how busy we are,
                // and leaves 2^62 nonces before it could wrap.
                next: rand::random::<u64>() >> 2,
                used: vec![0; words].into_boxed_slice(),
            }),
        }
    }

    /// A fresh nonce, redeemable once.
    pub(crate) fn issue(&self) -> String {
        let counter = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let counter = state.next;
            state.next += 1;
            // The slot's previous owner (counter - window) has just left the window.
            let (word, bit) = self.slot(counter);
            state.used[word] &= !bit;
            counter
        };
        let mut raw = [0u8; COUNTER_LEN + TAG_LEN];
        raw[..COUNTER_LEN].copy_from_slice(&counter.to_be_bytes());
        raw[COUNTER_LEN..].copy_from_slice(&self.tag(counter)[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// True exactly once for a nonce this instance issued among its last `window`;
    /// false for forged, malformed, too old or already used ones.
    pub(crate) fn redeem(&self, nonce: &str) -> bool {
        if nonce.len() != ENCODED_LEN {
            return false;
        }
        let mut raw = [0u8; COUNTER_LEN + TAG_LEN];
        match URL_SAFE_NO_PAD.decode_slice(nonce, &mut raw) {
            Ok(len) if len == raw.len() => {}
            _ => return false,
        }
        let counter = u64::from_be_bytes(raw[..COUNTER_LEN].try_into().expect("8 bytes"));
        let mut mac = self.mac.clone();
        mac.update(&counter.to_be_bytes());
        if mac.verify_truncated_left(&raw[COUNTER_LEN..]).is_err() {
            return false;
        }
        let (word, bit) = self.slot(counter);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Issued (counter < next) and still in the window (next - counter <= window).
        if counter >= state.next || state.next - counter > self.window {
            return false;
        }
        if state.used[word] & bit != 0 {
            return false;
        }
        state.used[word] |= bit;
        true
    }

    fn tag(&self, counter: u64) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(&counter.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The word and bit of `counter`'s slot in the used ring.
    fn slot(&self, counter: u64) -> (usize, u64) {
        let slot = counter % self.window;
        ((slot / 64) as usize, 1 << (slot % 64))
    }
}

impl Default for Nonces {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Nonces")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn a_nonce_is_redeemed_once() {
        let nonces = Nonces::new();
        let a = nonces.issue();
        let b = nonces.issue();
        assert_ne!(a, b);
        assert_eq!(a.len(), ENCODED_LEN);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert!(nonces.redeem(&b));
        assert!(nonces.redeem(&a));
        assert!(!nonces.redeem(&a));
        assert!(!nonces.redeem(&b));
    }

    #[test]
    fn forged_and_malformed_nonces_are_refused() {
        let nonces = Nonces::new();
        let good = nonces.issue();
        let raw = URL_SAFE_NO_PAD.decode(&good).unwrap();
        for i in [0, 7, 8, 23] {
            let mut forged = raw.clone();
            forged[i] ^= 1;
            assert!(!nonces.redeem(&URL_SAFE_NO_PAD.encode(&forged)), "byte {i}");
        }
        // The next counter with a guessed tag.
        let mut next = raw.clone();
        next[7] = next[7].wrapping_add(1);
        assert!(!nonces.redeem(&URL_SAFE_NO_PAD.encode(&next)));
        for bad in [
            "",
            "abc",
            &good[1..],
            format!("{good}A").as_str(),
            format!("{}=", &good[..31]).as_str(),
            "!".repeat(32).as_str(),
        ] {
            assert!(!nonces.redeem(bad), "{bad:?}");
        }
        assert!(nonces.redeem(&good));
    }

    #[test]
    fn nonces_of_another_instance_are_refused() {
        let ours = Nonces::new();
        let theirs = Nonces::new();
        let n = theirs.issue();
        assert!(!ours.redeem(&n));
        assert!(theirs.redeem(&n));
    }

    #[test]
    fn old_nonces_leave_the_window() {
        let nonces = Nonces::with_window(4);
        let first = nonces.issue();
        let second = nonces.issue();
        for _ in 0..2 {
            nonces.issue();
        }
        // `first` and the three after it: still the last four.
        assert!(nonces.redeem(&first));
        let fifth = nonces.issue();
        let sixth = nonces.issue();
        // Four newer than `second` now: it has left the window.
        assert!(!nonces.redeem(&second));
        assert!(nonces.redeem(&sixth));
        assert!(nonces.redeem(&fifth));
    }

    #[test]
    fn a_reused_slot_starts_unused() {
        let nonces = Nonces::with_window(2);
        let a = nonces.issue();
        assert!(nonces.redeem(&a));
        let b = nonces.issue();
        let c = nonces.issue(); // takes `a`'s slot
        assert!(!nonces.redeem(&a));
        assert!(nonces.redeem(&c));
        assert!(nonces.redeem(&b));
        assert!(!nonces.redeem(&c));
    }

    #[test]
    fn windows_not_a_multiple_of_64() {
        let nonces = Nonces::with_window(67);
        let issued: Vec<String> = (0..200).map(|_| nonces.issue()).collect();
        let redeemed = issued.iter().filter(|n| nonces.redeem(n)).count();
        assert_eq!(redeemed, 67);
        assert!(issued[133..].iter().all(|n| !nonces.redeem(n)));
    }

    #[test]
    fn concurrent_redeems_succeed_once() {
        let nonces = Arc::new(Nonces::new());
        for _ in 0..20 {
            let nonce = Arc::new(nonces.issue());
            let barrier = Arc::new(Barrier::new(8));
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (nonces, nonce, barrier) = (nonces.clone(), nonce.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        nonces.redeem(&nonce)
                    })
                })
                .collect();
            let wins = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|&won| won)
                .count();
            assert_eq!(wins, 1);
        }
    }

    #[test]
    fn concurrent_issue_gives_distinct_nonces() {
        let nonces = Arc::new(Nonces::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let nonces = nonces.clone();
                std::thread::spawn(move || (0..500).map(|_| nonces.issue()).collect::<Vec<_>>())
            })
            .collect();
        let all: Vec<String> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let distinct: std::collections::HashSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), 2000);
        assert!(all.iter().all(|n| nonces.redeem(n)));
    }

    #[test]
    fn debug_shows_no_key() {
        assert_eq!(
            format!("{:?}", Nonces::with_window(8)),
            "Nonces { window: 8, .. }"
        );
    }

    proptest! {
        #[test]
        fn redeem_never_panics(s in ".{0,40}", bytes in prop::collection::vec(any::<u8>(), 0..30)) {
            let nonces = Nonces::with_window(16);
            prop_assert!(!nonces.redeem(&s));
            prop_assert!(!nonces.redeem(&URL_SAFE_NO_PAD.encode(&bytes)));
        }
    }
}
