//! A vector stored in fixed-size chunks, for the flow table's connection slots.
//!
//! A `Vec` of slots (hundreds of bytes each) doubles as connections arrive: every growth
//! copies all the slots into new memory, page-faulting it in while the old memory is still
//! mapped, and on the benchmark trace that was 3% of a conn.log-only run. Chunks are never
//! moved: pushing past the last chunk allocates one more. An index costs one extra load,
//! from a chunk table small enough to stay in the L1 cache.

use std::ops::{Index, IndexMut};

/// Elements per chunk: a power of two, so an index splits with a shift and a mask.
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Every chunk but the last is full.
pub struct ChunkedVec<T> {
    chunks: Vec<Vec<T>>,
}

impl<T> Default for ChunkedVec<T> {
    fn default() -> Self {
        ChunkedVec { chunks: Vec::new() }
    }
}

impl<T> ChunkedVec<T> {
    pub fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK + last.len())
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub fn push(&mut self, v: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(v),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(v);
                self.chunks.push(chunk);
            }
        }
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK - 1))
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks
            .get_mut(i >> CHUNK_BITS)?
            .get_mut(i & (CHUNK - 1))
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> Index<usize> for ChunkedVec<T> {
    type Output = T;

    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

impl<T> IndexMut<usize> for ChunkedVec<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_vec_across_chunk_boundaries() {
        let mut c = ChunkedVec::default();
        let mut v = Vec::new();
        assert!(c.is_empty());
        assert_eq!(c.get(0), None);
        for i in 0..(3 * CHUNK + 5) as u64 {
            c.push(i * 7);
            v.push(i * 7);
        }
        assert_eq!(c.len(), v.len());
        for i in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 4] {
            assert_eq!(c[i], v[i]);
            assert_eq!(c.get(i), Some(&v[i]));
        }
        assert_eq!(c.get(v.len()), None);
        assert_eq!(c.get_mut(v.len()), None);
        c[CHUNK] = 1;
        *c.get_mut(2 * CHUNK).unwrap() = 2;
        v[CHUNK] = 1;
        v[2 * CHUNK] = 2;
        assert!(c.iter().eq(v.iter()));
    }

    #[test]
    fn elements_never_move() {
        let mut c = ChunkedVec::default();
        c.push([0u8; 64]);
        let first: *const [u8; 64] = &c[0];
        for _ in 0..4 * CHUNK {
            c.push([1u8; 64]);
        }
        assert!(std::ptr::eq(first, &c[0]));
    }
}
