//! Where C would put each member of a struct, so that a struct printed as C lays out as BTF
//! says: `__attribute__((packed))` when a member sits below its natural alignment, and
//! unnamed bit-fields (`long: 64;`) for the gaps that larger alignments left (`____cacheline_aligned`).

use super::{Btf, Kind, Member, MAX_RESOLVE_DEPTH};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// State of one walk that prints C: a bound on the types printed, and alignments known.
pub struct Walk {
    nodes: Cell<u32>,
    aligns: RefCell<HashMap<u32, u32>>,
}

impl Walk {
    pub fn new(nodes: u32) -> Walk {
        Walk {
            nodes: Cell::new(nodes),
            aligns: RefCell::new(HashMap::new()),
        }
    }
    pub fn get(&self) -> u32 {
        self.nodes.get()
    }
    pub fn set(&self, n: u32) {
        self.nodes.set(n)
    }
}

/// The widest gap written out as unnamed bit-fields (4 KiB).
const MAX_PADDING_BITS: u32 = 8 * 4096;

fn roundup(x: u32, to: u32) -> u32 {
    x.div_ceil(to.max(1)).saturating_mul(to.max(1))
}

impl Btf {
    /// The alignment in bytes C gives type `id` (a packed struct: 1).
    pub(super) fn align_of(&self, id: u32, w: &Walk) -> u32 {
        self.align_at(id, w, 0)
    }

    fn align_at(&self, id: u32, w: &Walk, depth: u32) -> u32 {
        if let Some(a) = w.aligns.borrow().get(&id) {
            return *a;
        }
        let Ok(t) = self.get(id) else { return 1 };
        let a = match &t.kind {
            _ if depth > MAX_RESOLVE_DEPTH => 1,
            Kind::Int { size, .. }
            | Kind::Float { size }
            | Kind::Enum { size, .. }
            | Kind::Enum64 { size, .. } => (*size).clamp(1, 8),
            Kind::Ptr { .. } => 8,
            Kind::Array { elem, .. } => self.align_at(*elem, w, depth + 1),
            Kind::Struct { members, size } | Kind::Union { members, size } => {
                let natural = members
                    .iter()
                    .map(|m| self.align_at(m.ty, w, depth + 1))
                    .max()
                    .unwrap_or(1);
                if self.packed_with(members, *size, natural, w, depth) {
                    1
                } else {
                    natural
                }
            }
            k => k
                .ref_type()
                .filter(|_| k.is_mod_or_typedef())
                .map(|r| self.align_at(r, w, depth + 1))
                .unwrap_or(1),
        };
        w.aligns.borrow_mut().insert(id, a);
        a
    }

    /// A struct whose size is not a multiple of its alignment, or with a member below its
    /// natural alignment, was declared packed.
    fn packed_with(
        &self,
        members: &[Member],
        size: u32,
        natural: u32,
        w: &Walk,
        depth: u32,
    ) -> bool {
        !size.is_multiple_of(natural)
            || members.iter().any(|m| {
                m.bitfield_size == 0 && m.bit_offset % (8 * self.align_at(m.ty, w, depth + 1)) != 0
            })
    }

    /// Is struct or union `id` packed? (A union is when its size is not a multiple of its
    /// members' alignment: `union { __u64 a; __u8 b[18]; } __attribute__((packed))`.)
    pub(super) fn is_packed(&self, id: u32, w: &Walk) -> bool {
        match self.get(id).map(|t| &t.kind) {
            Ok(Kind::Struct { members, size } | Kind::Union { members, size }) => {
                let natural = members
                    .iter()
                    .map(|m| self.align_of(m.ty, w))
                    .max()
                    .unwrap_or(1);
                self.packed_with(members, *size, natural, w, 0)
            }
            _ => false,
        }
    }

    /// Where C puts member `m` after `cur` bits.
    pub(super) fn natural_bit_offset(&self, cur: u32, m: &Member, packed: bool, w: &Walk) -> u32 {
        if m.bitfield_size == 0 {
            let a = if packed { 1 } else { self.align_of(m.ty, w) };
            return roundup(cur, 8 * a);
        }
        if packed {
            return cur;
        }
        let unit = 8 * self.resolve_size(m.ty).unwrap_or(1).clamp(1, 16) as u32;
        if cur % unit + m.bitfield_size <= unit {
            cur
        } else {
            roundup(cur, unit)
        }
    }

    /// Where C ends a struct whose members end at `cur` bits.
    pub(super) fn natural_end(&self, id: u32, cur: u32, w: &Walk) -> u32 {
        roundup(cur, 8 * self.align_of(id, w))
    }
}

/// Unnamed bit-fields that move from `cur` to `to` bits (they take room but, unnamed, do
/// not change the struct's alignment), one line each at `tabs`.
pub(super) fn padding(mut cur: u32, to: u32, tabs: &str) -> String {
    let mut s = String::new();
    // No real struct has a gap this wide; a damaged one must not print millions of lines.
    if to.saturating_sub(cur) > MAX_PADDING_BITS {
        return format!("{tabs}/* a gap of {} bits, not written out */\n", to - cur);
    }
    while cur < to {
        let left = to - cur;
        let (ty, bits) = if !cur.is_multiple_of(8) {
            ("char", left.min(8 - cur % 8))
        } else if cur.is_multiple_of(64) && left >= 64 {
            ("long", 64)
        } else if cur.is_multiple_of(32) && left >= 32 {
            ("int", 32)
        } else if cur.is_multiple_of(16) && left >= 16 {
            ("short", 16)
        } else {
            ("char", left.min(8))
        };
        s.push_str(&format!("{tabs}{ty}: {bits};\n"));
        cur += bits;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::padding;

    #[test]
    fn padding_takes_the_largest_aligned_pieces() {
        assert_eq!(padding(0, 128, ""), "long: 64;\nlong: 64;\n");
        assert_eq!(padding(32, 96, ""), "int: 32;\nint: 32;\n");
        assert_eq!(padding(3, 8, ""), "char: 5;\n");
        assert_eq!(padding(8, 24, ""), "char: 8;\nchar: 8;\n");
    }
}
