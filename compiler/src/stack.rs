//! Deeply nested programs (a chain of thousands of `+`, long `else if`
//! ladders) must not overflow the stack: the recursive walkers grow it on
//! the heap when little is left.

/// Space that must remain before recursing further.
const RED_ZONE: usize = 128 * 1024;
/// Size of each extra stack segment.
const SEGMENT: usize = 4 * 1024 * 1024;

pub fn guard<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}
