//! What the platform stand-ins received: per message of the run, how many
//! replies reached the platform and when the first one arrived.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// Replies per message, recorded by the stand-ins as they arrive.
pub struct Sends {
    start: Instant,
    counts: Vec<AtomicU32>,
    /// Microseconds after `start` plus one; 0 = no reply yet.
    first_at: Vec<AtomicU64>,
    strangers: AtomicU64,
    repeats_without_effect: AtomicU64,
}

impl Sends {
    /// Room for `capacity` messages, timed from `start`.
    pub fn new(start: Instant, capacity: usize) -> Sends {
        Sends {
            start,
            counts: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            first_at: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            strangers: AtomicU64::new(0),
            repeats_without_effect: AtomicU64::new(0),
        }
    }

    /// A reply to the customer of message `index` arrived.
    pub fn record(&self, index: Option<usize>) {
        let Some(index) = index.filter(|&i| i < self.counts.len()) else {
            self.strangers.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.counts[index].fetch_add(1, Ordering::Relaxed) == 0 {
            let at = self.start.elapsed().as_micros() as u64 + 1;
            let _ =
                self.first_at[index].compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// A reply for message `index` whose repeats have no effect the
    /// customer sees (a read such as an order look-up): the first counts as
    /// the reply, later ones as repeats without effect.
    pub fn record_first(&self, index: Option<usize>) {
        let Some(index) = index.filter(|&i| i < self.counts.len()) else {
            self.strangers.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.counts[index]
            .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.first_at[index].store(
                self.start.elapsed().as_micros() as u64 + 1,
                Ordering::Relaxed,
            );
        } else {
            self.record_repeat_without_effect();
        }
    }

    /// A repeat that reached the platform without reaching the customer: a
    /// client message id the platform dropped (WeCom `msgid`), a look-up
    /// made again.
    pub fn record_repeat_without_effect(&self) {
        self.repeats_without_effect.fetch_add(1, Ordering::Relaxed);
    }

    /// Replies that reached the platform for message `index`.
    pub fn count(&self, index: usize) -> u32 {
        self.counts[index].load(Ordering::Relaxed)
    }

    /// When the first reply for message `index` arrived, microseconds after
    /// the start.
    pub fn first_at_micros(&self, index: usize) -> Option<u64> {
        match self.first_at[index].load(Ordering::Relaxed) {
            0 => None,
            at => Some(at - 1),
        }
    }

    /// Replies to customers who are not part of the run.
    pub fn strangers(&self) -> u64 {
        self.strangers.load(Ordering::Relaxed)
    }

    /// Repeats that did not reach the customer.
    pub fn repeats_without_effect(&self) -> u64 {
        self.repeats_without_effect.load(Ordering::Relaxed)
    }

    /// How many messages have at least one reply among the first `n`.
    pub fn answered(&self, n: usize) -> usize {
        self.counts[..n.min(self.counts.len())]
            .iter()
            .filter(|c| c.load(Ordering::Relaxed) > 0)
            .count()
    }
}

/// The customer of message `index` (a platform user id).
pub fn customer(index: usize) -> String {
    format!("load-{index}")
}

/// The message index of a customer named by [`customer`].
pub fn index_of(customer: &str) -> Option<usize> {
    customer.strip_prefix("load-")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_name_their_message() {
        assert_eq!(index_of(&customer(42)), Some(42));
        assert_eq!(index_of("someone"), None);
        let sends = Sends::new(Instant::now(), 2);
        sends.record(Some(1));
        sends.record(Some(1));
        sends.record(Some(7));
        assert_eq!(
            (sends.count(0), sends.count(1), sends.strangers()),
            (0, 2, 1)
        );
        assert!(sends.first_at_micros(1).is_some());
        assert_eq!(sends.answered(2), 1);
    }
}
