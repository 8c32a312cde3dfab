//! A size-class allocator for components: small blocks come from per-size free lists.
//!
//! A Rust component's default allocator on `wasm32-wasip2` is wasi-libc's dlmalloc, which
//! bins, splits and coalesces on every call. An analyzer allocates and frees many small
//! blocks per delivered chunk (names, header values, log rows) and keeps few of them: in the
//! benchmark run with the DNS and HTTP analyzers, dlmalloc and dlfree were 8% of the whole
//! process's time. Here a block of at most [`MAX_CLASS`] bytes is taken from the free list of
//! its power-of-two size class, or cut from a 64 KiB slab of that class, and freeing it puts
//! it back on the list: a few instructions each way. Larger or over-aligned blocks go to the
//! system allocator as before.
//!
//! Not every block a component frees was allocated here: the `cabi_realloc` the host calls
//! to pass lists and strings in may be wasi-libc's, which takes them from dlmalloc, and the
//! component frees them with Rust's allocator. So slabs are 64 KiB-aligned and registered by
//! their 64 KiB region, and a block outside every slab goes back to the system allocator,
//! whatever its size.
//!
//! The price is memory: a class keeps the blocks it ever had (at most the peak of live blocks
//! of that size, rounded up to the power of two) instead of giving them back for other sizes.
//! With blocks of at most 4 KiB and the components' steady per-connection state, that is a
//! small part of a component's memory limit.
//!
//! Install it in a component (Wasm only: the allocator is not thread-safe, and a component
//! instance is single-threaded):
//!
//! ```ignore
//! #[cfg(target_family = "wasm")]
//! #[global_allocator]
//! static ALLOCATOR: sandpiper_sdk::alloc::SizeClasses = sandpiper_sdk::alloc::SizeClasses::new();
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// The smallest class: room for the free list's link and the usual 16-byte alignment.
const MIN_CLASS_SHIFT: u32 = 4;
/// Blocks up to this size come from the classes.
pub const MAX_CLASS: usize = 4096;
const CLASSES: usize = (MAX_CLASS.trailing_zeros() - MIN_CLASS_SHIFT + 1) as usize;
/// Memory is taken from the system allocator in slabs of this size and alignment, cut into
/// blocks of one class as they are needed.
const SLAB_SHIFT: u32 = 16;
const SLAB: usize = 1 << SLAB_SHIFT;
/// Registry entries, one per 64 KiB region: the whole of a 32-bit address space. (On a
/// 64-bit target two slabs can share an entry; the second is then not used, see `carve`.)
const REGIONS: usize = 1 << 16;
/// Every block is aligned to this (the smallest class size, and a slab's alignment).
const ALIGN: usize = 1 << MIN_CLASS_SHIFT;

struct Class {
    /// Freed blocks, linked through their first word.
    free: *mut u8,
    /// The unused rest of this class's current slab.
    bump: *mut u8,
    end: *mut u8,
}

struct State {
    classes: [Class; CLASSES],
    /// The base address of the slab in each 64 KiB region (by region number modulo
    /// [`REGIONS`]), or 0.
    slabs: [usize; REGIONS],
}

/// See the module documentation.
pub struct SizeClasses {
    state: UnsafeCell<State>,
}

// SAFETY: a Wasm component instance runs one thread (wasm32-wasip2 has no threads without
// the `atomics` feature), so the free lists are never touched concurrently.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl Sync for SizeClasses {}

impl Default for SizeClasses {
    fn default() -> Self {
        Self::new()
    }
}

impl SizeClasses {
    pub const fn new() -> Self {
        const EMPTY: Class = Class {
            free: ptr::null_mut(),
            bump: ptr::null_mut(),
            end: ptr::null_mut(),
        };
        SizeClasses {
            state: UnsafeCell::new(State {
                classes: [EMPTY; CLASSES],
                slabs: [0; REGIONS],
            }),
        }
    }

    /// The registry entry of the region holding `p`.
    #[inline]
    fn region(p: *const u8) -> usize {
        (p as usize >> SLAB_SHIFT) & (REGIONS - 1)
    }

    /// Whether `p` lies in one of this allocator's slabs.
    #[inline]
    fn is_ours(state: &State, p: *const u8) -> bool {
        let base = p as usize & !(SLAB - 1);
        base != 0 && state.slabs[Self::region(p)] == base
    }

    /// The class of a layout, if it has one.
    #[inline]
    fn class_of(layout: Layout) -> Option<usize> {
        if layout.size() > MAX_CLASS || layout.align() > ALIGN {
            return None;
        }
        let size = layout.size().max(ALIGN);
        Some((size.next_power_of_two().trailing_zeros() - MIN_CLASS_SHIFT) as usize)
    }

    #[inline]
    fn size_of_class(class: usize) -> usize {
        1 << (class as u32 + MIN_CLASS_SHIFT)
    }

    /// A fresh block of `class` for a request of `layout`, cut from its slab (a new slab
    /// when it is used up).
    #[cold]
    unsafe fn carve(state: &mut State, class: usize, layout: Layout) -> *mut u8 {
        let size = Self::size_of_class(class);
        let c = &mut state.classes[class];
        if (c.end as usize) - (c.bump as usize) < size {
            // SAFETY: SLAB is non-zero and a power of two.
            let slab_layout = unsafe { Layout::from_size_align_unchecked(SLAB, SLAB) };
            let slab = unsafe { System.alloc(slab_layout) };
            if slab.is_null() {
                return slab;
            }
            let entry = &mut state.slabs[Self::region(slab)];
            if *entry != 0 {
                // Another slab has this registry entry (64-bit targets only): give this one
                // back and serve the request from the system allocator with its own layout,
                // the one `dealloc` will return the block to it with.
                unsafe {
                    System.dealloc(slab, slab_layout);
                    return System.alloc(layout);
                }
            }
            *entry = slab as usize;
            c.bump = slab;
            c.end = slab.wrapping_add(SLAB);
        }
        let block = c.bump;
        c.bump = block.wrapping_add(size);
        block
    }
}

unsafe impl GlobalAlloc for SizeClasses {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = Self::class_of(layout) else {
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: single-threaded (see the Sync impl), and no reference into the state
        // outlives this call.
        let state = unsafe { &mut *self.state.get() };
        let block = state.classes[class].free;
        if block.is_null() {
            return unsafe { Self::carve(state, class, layout) };
        }
        // SAFETY: a block on the free list holds the next block's address in its first word.
        state.classes[class].free = unsafe { block.cast::<*mut u8>().read() };
        block
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`.
        let state = unsafe { &mut *self.state.get() };
        if !Self::is_ours(state, block) {
            return unsafe { System.dealloc(block, layout) };
        }
        // A block of ours is freed with the layout it was allocated (or reallocated within
        // its class) with, or a smaller one (a list handed to the host by its length), so
        // its class is that layout's or a smaller one, whose blocks it holds.
        if let Some(class) = Self::class_of(layout) {
            let c = &mut state.classes[class];
            // SAFETY: the block is at least 16 bytes and aligned for a pointer.
            unsafe { block.cast::<*mut u8>().write(c.free) };
            c.free = block;
        }
    }

    #[inline]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `realloc`'s contract gives a valid alignment and a non-zero new size.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = Self::class_of(new_layout);
        // SAFETY: as in `alloc`.
        let ours = Self::is_ours(unsafe { &*self.state.get() }, block);
        if ours && new.is_some() && new == Self::class_of(layout) {
            // The block already has room: a class's blocks are its full size.
            return block;
        }
        if !ours && new.is_none() {
            return unsafe { System.realloc(block, layout, new_size) };
        }
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks hold at least the smaller size and do not overlap.
            unsafe {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An allocator of the tests' own, on the heap: its half-megabyte registry would
    /// overflow a test thread's stack. All zeroes is the state `new` makes.
    fn allocator() -> Box<SizeClasses> {
        // SAFETY: null pointers and zero entries are a valid (empty) state.
        unsafe { Box::<SizeClasses>::new_zeroed().assume_init() }
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn classes_are_powers_of_two_from_16_to_the_maximum() {
        assert_eq!(SizeClasses::class_of(layout(1, 1)), Some(0));
        assert_eq!(SizeClasses::class_of(layout(16, 8)), Some(0));
        assert_eq!(SizeClasses::class_of(layout(17, 1)), Some(1));
        assert_eq!(
            SizeClasses::class_of(layout(MAX_CLASS, 16)),
            Some(CLASSES - 1)
        );
        assert_eq!(SizeClasses::size_of_class(CLASSES - 1), MAX_CLASS);
        assert_eq!(SizeClasses::class_of(layout(MAX_CLASS + 1, 1)), None);
        assert_eq!(SizeClasses::class_of(layout(8, 32)), None);
    }

    /// Live blocks never overlap, hold what was written to them through reallocations
    /// across classes and into the system allocator, and freed blocks are reused.
    #[test]
    fn blocks_are_distinct_keep_their_contents_and_are_reused() {
        let a = allocator();
        let sizes = [1usize, 15, 16, 17, 100, 1000, 4096, 4097, 20_000];
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        for round in 0..3u8 {
            for (i, &size) in sizes.iter().enumerate() {
                let l = layout(size, if i % 2 == 0 { 8 } else { 1 });
                let p = unsafe { a.alloc(l) };
                assert!(!p.is_null());
                assert_eq!(p as usize % l.align(), 0);
                let fill = round * 16 + i as u8;
                unsafe { ptr::write_bytes(p, fill, size) };
                live.push((p, l, fill));
            }
        }
        let mut spans: Vec<(usize, usize)> = live
            .iter()
            .map(|&(p, l, _)| (p as usize, p as usize + l.size()))
            .collect();
        spans.sort();
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "blocks overlap");
        for &(p, l, fill) in &live {
            let bytes = unsafe { std::slice::from_raw_parts(p, l.size()) };
            assert!(bytes.iter().all(|&b| b == fill));
        }
        // Grow each block through the classes into the system allocator and shrink it back.
        for (p, l, fill) in live.iter_mut() {
            let keep = l.size();
            for new_size in [keep + 1, 3000, 9000, keep] {
                let was = l.size();
                *p = unsafe { a.realloc(*p, *l, new_size) };
                assert!(!p.is_null());
                *l = layout(new_size, l.align());
                let bytes = unsafe { std::slice::from_raw_parts(*p, was.min(new_size)) };
                let kept = bytes.iter().all(|&b| b == *fill);
                assert!(kept, "contents lost in realloc of {was} to {new_size}");
                unsafe { ptr::write_bytes(*p, *fill, new_size) };
            }
        }
        // A block the system allocator made (as the host's `cabi_realloc` may) goes back to
        // it: freeing it here must not put it on a free list, where a larger block of its
        // class would be expected.
        let foreign_layout = layout(20, 1);
        let foreign = unsafe { System.alloc(foreign_layout) };
        assert!(!SizeClasses::is_ours(unsafe { &*a.state.get() }, foreign));
        unsafe { a.dealloc(foreign, foreign_layout) };
        let fresh = unsafe { a.alloc(foreign_layout) };
        assert_ne!(
            fresh, foreign,
            "a foreign block was reused as a class block"
        );
        let grown = unsafe { a.realloc(System.alloc(foreign_layout), foreign_layout, 40) };
        assert!(SizeClasses::is_ours(unsafe { &*a.state.get() }, grown));
        unsafe {
            a.dealloc(fresh, foreign_layout);
            a.dealloc(grown, layout(40, 1));
        }
        let (p, l, _) = live.pop().unwrap();
        let small = live.iter().position(|&(_, l, _)| l.size() == 100).unwrap();
        let (q, ql, _) = live.swap_remove(small);
        unsafe { a.dealloc(q, ql) };
        assert_eq!(unsafe { a.alloc(ql) }, q, "a freed block is reused first");
        unsafe { a.dealloc(q, ql) };
        unsafe { a.dealloc(p, l) };
        for (p, l, _) in live {
            unsafe { a.dealloc(p, l) };
        }
    }
}
