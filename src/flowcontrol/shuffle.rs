//! Shuffle sharding (upstream `k8s.io/apiserver/pkg/util/shufflesharding`): a flow's hash deals
//! a hand of distinct queues from the deck, so two flows rarely share all their queues and one
//! heavy flow cannot fill every queue of a priority level.

use crate::api::strategy::flowcontrol::{required_entropy_bits, MAX_HASH_BITS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dealer {
    deck: usize,
    hand: usize,
}

impl Dealer {
    /// A dealer for `deck` queues and hands of `hand` (validation keeps these sane; a broken
    /// pair is refused with upstream's reason).
    pub fn new(deck: usize, hand: usize) -> Result<Dealer, String> {
        if deck == 0 || hand == 0 {
            return Err(format!("deckSize {deck} or handSize {hand} is not positive"));
        }
        if hand > deck {
            return Err(format!("handSize {hand} is greater than deckSize {deck}"));
        }
        if deck > 1 << 26 {
            return Err(format!("deckSize {deck} is impractically large"));
        }
        if required_entropy_bits(deck as i64, hand as i64) > MAX_HASH_BITS {
            return Err(format!(
                "required entropy bits of deckSize {deck} and handSize {hand} is greater than {MAX_HASH_BITS}"
            ));
        }
        Ok(Dealer { deck, hand })
    }

    pub fn hand_size(&self) -> usize {
        self.hand
    }

    /// The hand for `hash`: `hand` distinct queue indexes (upstream's `Deal`).
    pub fn deal(&self, mut hash: u64) -> Vec<usize> {
        let mut remainders = Vec::with_capacity(self.hand);
        for i in 0..self.hand {
            let next = hash / (self.deck - i) as u64;
            remainders.push((hash - (self.deck - i) as u64 * next) as usize);
            hash = next;
        }
        (0..self.hand)
            .map(|i| {
                let mut card = remainders[i];
                for j in (1..=i).rev() {
                    if card >= remainders[j - 1] {
                        card += 1;
                    }
                }
                card
            })
            .collect()
    }
}

/// The flow's hash: the first 8 bytes (little endian) of SHA-256 over the FlowSchema name, a
/// zero byte and the distinguisher (upstream's `hashFlowID`).
pub fn hash_flow(flow_schema: &str, distinguisher: &str) -> u64 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(flow_schema.as_bytes());
    ctx.update(&[0]);
    ctx.update(distinguisher.as_bytes());
    let d = ctx.finish();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d.as_ref()[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn hands_are_distinct_and_in_range() {
        let d = Dealer::new(128, 6).unwrap();
        for h in [0u64, 1, 42, u64::MAX, 0xdead_beef_cafe] {
            let hand = d.deal(h);
            assert_eq!(hand.len(), 6);
            assert_eq!(hand.iter().collect::<HashSet<_>>().len(), 6, "{hand:?}");
            assert!(hand.iter().all(|c| *c < 128));
        }
    }

    #[test]
    fn matches_upstreams_deal() {
        // Upstream's Deal for deckSize 10, handSize 3, hash 12345: remainders 5 (12345 % 10),
        // 1 (1234 % 9), 1 (137 % 8) → cards 5, 1, 2 (the third skips the card dealt before it).
        assert_eq!(Dealer::new(10, 3).unwrap().deal(12345), vec![5, 1, 2]);
    }

    #[test]
    fn refuses_upstreams_bad_configs() {
        assert!(Dealer::new(4, 5).unwrap_err().contains("greater than deckSize"));
        assert!(Dealer::new(1 << 20, 8).unwrap_err().contains("required entropy bits"));
        assert!(Dealer::new(0, 1).is_err());
    }

    #[test]
    fn flow_hash_is_stable() {
        assert_eq!(
            hash_flow("global-default", "alice"),
            hash_flow("global-default", "alice")
        );
        assert_ne!(hash_flow("global-default", "alice"), hash_flow("global-default", "bob"));
        assert_ne!(hash_flow("a", "bc"), hash_flow("ab", "c"));
    }
}
