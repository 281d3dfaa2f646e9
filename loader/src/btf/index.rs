//! A name -> type ids index: the kernel's BTF has ~150k types and CO-RE asks by name.
//! A sorted vector of (hash of name, id): one allocation, no per-name strings.

use super::Btf;

#[derive(Debug, Clone, Default)]
pub(super) struct NameIndex {
    /// Types `0..covered` are in `entries`; later ones are searched linearly.
    pub(super) covered: usize,
    entries: Vec<(u64, u32)>,
}

/// FNV-1a: tiny, and good enough to spread identifiers.
fn hash(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn name_bytes(strings: &[u8], off: u32) -> &[u8] {
    let rest = strings.get(off as usize..).unwrap_or(&[]);
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    &rest[..end]
}

impl NameIndex {
    pub(super) fn build(btf: &Btf) -> NameIndex {
        let mut entries: Vec<(u64, u32)> = btf
            .types
            .iter()
            .enumerate()
            .filter(|(_, t)| t.name_off != 0)
            .map(|(id, t)| (hash(name_bytes(&btf.strings, t.name_off)), id as u32))
            .collect();
        entries.sort_unstable();
        NameIndex {
            covered: btf.types.len(),
            entries,
        }
    }

    /// Ids whose name is `name`, in increasing order.
    pub(super) fn lookup<'a>(
        &'a self,
        btf: &'a Btf,
        name: &'a str,
    ) -> impl Iterator<Item = u32> + 'a {
        let h = hash(name.as_bytes());
        let start = self.entries.partition_point(|&(eh, _)| eh < h);
        self.entries[start..]
            .iter()
            .take_while(move |&&(eh, _)| eh == h)
            .map(|&(_, id)| id)
            .filter(move |&id| {
                btf.types
                    .get(id as usize)
                    .is_some_and(|t| name_bytes(&btf.strings, t.name_off) == name.as_bytes())
            })
    }
}
