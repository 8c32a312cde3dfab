//! Interned names: analyzer names and weird names from guests become `&'static str`, so
//! connections can keep them (conn.log `service`, the per-connection weird set) without
//! owning strings.
//!
//! The set is bounded: guests choose these strings, and a hostile one must not grow the
//! process without bound. Past the bound every new name maps to one overflow name.

use std::collections::HashSet;
use std::sync::Mutex;

/// Distinct names kept at most.
const MAX_NAMES: usize = 4096;
/// Longest name kept; longer names are cut.
const MAX_LEN: usize = 128;
/// What every name past the bound becomes.
pub const OVERFLOW: &str = "too_many_distinct_names";

static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);

/// The `&'static str` equal to `s` (cut to 128 bytes at a character boundary).
pub fn intern(s: &str) -> &'static str {
    let mut end = s.len().min(MAX_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let s = &s[..end];
    let mut guard = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let set = guard.get_or_insert_with(HashSet::new);
    if let Some(&known) = set.get(s) {
        return known;
    }
    if set.len() >= MAX_NAMES {
        return OVERFLOW;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_pointer() {
        let a = intern("dns_unmatched_reply");
        let b = intern(&String::from("dns_unmatched_reply"));
        assert!(std::ptr::eq(a, b));
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary() {
        let long = "é".repeat(100);
        let i = intern(&long);
        assert!(i.len() <= MAX_LEN);
        assert!(long.starts_with(i));
    }
}
