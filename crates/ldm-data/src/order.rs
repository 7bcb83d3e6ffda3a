//! The order samples are visited in: a seeded permutation per epoch, and a position
//! (epoch, index) that can be saved and restored so a resumed run sees exactly the samples
//! it would have seen.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use ldm_core::seed;

/// How far through the data a loader is: the next sample is `permutation(epoch)[index]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: u64,
    pub index: usize,
}

#[derive(Clone, Debug)]
pub struct Order {
    seed: u64,
    len: usize,
    shuffle: bool,
    pos: Position,
    perm: Vec<usize>,
}

impl Order {
    pub fn new(len: usize, seed: u64, shuffle: bool) -> Self {
        let mut o = Self {
            seed,
            len,
            shuffle,
            pos: Position::default(),
            perm: Vec::new(),
        };
        o.perm = o.permutation(0);
        o
    }

    /// The visiting order of one epoch; a function of (seed, epoch) alone.
    pub fn permutation(&self, epoch: u64) -> Vec<usize> {
        let mut p: Vec<usize> = (0..self.len).collect();
        if self.shuffle {
            p.shuffle(&mut seed::rng(self.seed, "order", epoch));
        }
        p
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn position(&self) -> Position {
        self.pos
    }

    pub fn restore(&mut self, pos: Position) {
        if pos.epoch != self.pos.epoch {
            self.perm = self.permutation(pos.epoch);
        }
        self.pos = pos;
    }

    /// Samples left in the current epoch.
    pub fn remaining(&self) -> usize {
        self.len - self.pos.index
    }

    /// The next (epoch, dataset index), rolling into the next epoch at the end.
    pub fn next(&mut self) -> (u64, usize) {
        if self.pos.index >= self.len {
            self.restore(Position {
                epoch: self.pos.epoch + 1,
                index: 0,
            });
        }
        let item = (self.pos.epoch, self.perm[self.pos.index]);
        self.pos.index += 1;
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_is_a_permutation_and_epochs_differ() {
        let mut o = Order::new(50, 1, true);
        let e0: Vec<usize> = (0..50).map(|_| o.next().1).collect();
        let e1: Vec<usize> = (0..50).map(|_| o.next().1).collect();
        let mut s = e0.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        assert_ne!(e0, (0..50).collect::<Vec<_>>());
        assert_eq!(e0, Order::new(50, 1, true).permutation(0));
    }

    #[test]
    fn restore_continues_exactly() {
        let mut a = Order::new(30, 9, true);
        for _ in 0..47 {
            a.next();
        }
        let saved = a.position();
        let rest: Vec<_> = (0..40).map(|_| a.next()).collect();
        let mut b = Order::new(30, 9, true);
        b.restore(saved);
        assert_eq!((0..40).map(|_| b.next()).collect::<Vec<_>>(), rest);
    }
}
