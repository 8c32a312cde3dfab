//! The flow index: connection key -> slot of the flow table, as small as it can be.
//!
//! A `HashMap<ConnKey, u32>` keeps a copy of each 48-byte key beside the slot number, so
//! with tens of thousands of connections its entries spill out of the L2 cache and every
//! lookup misses twice (control bytes, then the entry) before the slot itself misses a
//! third time. This index keeps only the 4-byte slot numbers and compares a candidate's
//! key where the table stores it, in the slot the packet is about to touch anyway: the
//! index of a 50,000-connection table is a quarter of a megabyte and stays in cache.
//!
//! Each entry also keeps 32 bits of its key's hash, from which the table's hash is rebuilt
//! ([`spread`]), so growing the table or sweeping out its tombstones (which hashbrown does
//! in place when insertions and removals churn) never reads a key: with the key in the slot,
//! every rehashed entry was a cache miss, 1.1-1.7% of the fast path's samples on the benchmark
//! trace.
//!
//! Keys are hashed with a per-process random `ahash` state, so traffic cannot be crafted
//! to collide.

use hashbrown::HashTable;

use super::key::ConnKey;

#[derive(Clone, Copy)]
struct Entry {
    slot: u32,
    hash: u32,
}

pub struct FlowIndex {
    slots: HashTable<Entry>,
    state: ahash::RandomState,
}

/// The table's 64-bit hash from an entry's 32: hashbrown places an entry by the low bits
/// and tags it with the top seven, which both come from the 32 bits this way (distinct bits
/// for tables of up to 2^25 entries).
#[inline]
fn spread(hash: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(hash)
}

impl FlowIndex {
    pub fn with_capacity(n: usize) -> Self {
        FlowIndex {
            slots: HashTable::with_capacity(n),
            state: ahash::RandomState::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn hash(&self, key: &ConnKey) -> u32 {
        // ahash mixes every bit of the key into every bit of the hash: the low half will do.
        self.state.hash_one(key) as u32
    }

    /// The slot holding `key`; `key_of(slot)` is the key stored in a slot.
    #[inline]
    pub fn find<'a>(&self, key: &ConnKey, key_of: impl Fn(u32) -> &'a ConnKey) -> Option<u32> {
        let hash = self.hash(key);
        self.slots
            .find(spread(hash), |e| e.hash == hash && key_of(e.slot) == key)
            .map(|e| e.slot)
    }

    /// Records that `slot` holds `key` (not yet in the index).
    pub fn insert(&mut self, key: &ConnKey, slot: u32) {
        let hash = self.hash(key);
        self.slots
            .insert_unique(spread(hash), Entry { slot, hash }, |e| spread(e.hash));
    }

    /// Forgets every entry at once (the table's end-of-input flush).
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Forgets `key`, held by `slot`.
    pub fn remove(&mut self, key: &ConnKey, slot: u32) {
        if let Ok(entry) = self
            .slots
            .find_entry(spread(self.hash(key)), |e| e.slot == slot)
        {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn key(i: u32) -> ConnKey {
        let a = IpAddr::from(i.to_be_bytes());
        let b: IpAddr = "10.0.0.1".parse().unwrap();
        ConnKey::new(a, 1000, b, 80, 6)
    }

    #[test]
    fn finds_what_was_inserted_through_growth_and_removal() {
        let keys: Vec<ConnKey> = (0..5000).map(key).collect();
        let mut index = FlowIndex::with_capacity(4);
        for (slot, k) in keys.iter().enumerate() {
            index.insert(k, slot as u32);
        }
        assert_eq!(index.len(), keys.len());
        for (slot, k) in keys.iter().enumerate() {
            assert_eq!(index.find(k, |s| &keys[s as usize]), Some(slot as u32));
        }
        for (slot, k) in keys.iter().enumerate().step_by(2) {
            index.remove(k, slot as u32);
        }
        assert_eq!(index.len(), keys.len() / 2);
        for (slot, k) in keys.iter().enumerate() {
            let want = (slot % 2 == 1).then_some(slot as u32);
            assert_eq!(index.find(k, |s| &keys[s as usize]), want);
        }
        assert_eq!(index.find(&key(99_999), |s| &keys[s as usize]), None);
    }
}
