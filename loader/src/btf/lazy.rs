//! The kernel's BTF without decoding all of it. Loading one object asks for a few hundred
//! of vmlinux's ~130k types (CO-RE candidates by name, their members, what those refer to),
//! so [`Btf::kernel_lazy`] maps the file, walks the type section once (checking every
//! length) and decodes and checks a type the first time it is asked for. The walk keeps
//! only where every 8th record starts (a type's record is then at most 7 steps from a
//! mark), and the ids of the names announced before it ([`Btf::kernel_lazy_for`]: the
//! CO-RE root types and attach targets of the object being loaded), found by searching the
//! string section for `name\0` and comparing each record's name offset with the places
//! found. A name not announced costs one more walk, which notes every record's name
//! offset for the lookups after it: no index over every name unless one is needed.

use super::parse::{check_type, decode_one, header, Reader};
use super::{kind, Btf, BtfError, Kind, Result, Type};
use crate::sys::file::{read_btf_file, FileBytes, Words};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// Decoded types are kept in chunks of this many ids, allocated when first touched.
const CHUNK: usize = 256;
/// Every MARK-th record's offset is kept.
const MARK: usize = 8;
/// Bits of the filter the walk tests announced names' places against (8 KiB).
const FILTER_BITS: usize = 1 << 16;

pub(super) struct Lazy {
    data: FileBytes,
    types: Range<usize>,
    strings: Range<usize>,
    /// Number of types, void excluded.
    count: usize,
    /// Where type `id`'s record starts in the type section, for `(id - 1) % MARK == 0`:
    /// `marks[(id - 1) / MARK]`.
    marks: Vec<u32>,
    /// Every type's name offset, `name_offs[id - 1]`: made by a second walk when a name
    /// that was not announced is looked up, then scanned for each such name.
    name_offs: OnceLock<std::result::Result<Words, String>>,
    chunks: Vec<OnceLock<Box<[OnceLock<Type>]>>>,
    /// Ids by name, for names already asked for.
    found: Mutex<HashMap<String, Vec<u32>>>,
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lazy")
            .field("types", &(self.count + 1))
            .field("string_bytes", &self.strings.len())
            .finish()
    }
}

/// For each `BTF_KIND_*` `k`, two bits at `2 * k`: the bytes after a record's 12-byte
/// common header, in units of 4, fixed (`TRAILER_FIXED`) and per vlen entry
/// (`TRAILER_PER_VLEN`); bit `k` of `KNOWN_KINDS` says the kind exists. Constants, not a
/// `match` or a table in memory: the walk meets kinds in no predictable order, and each
/// record's length is on the critical path to the next one.
const fn trailer_bits(per_vlen: bool) -> u64 {
    let mut bits = 0u64;
    let mut k = 0u8;
    while k < 32 {
        let (fixed, per) = match k {
            kind::INT | kind::VAR | kind::DECL_TAG => (1, 0),
            kind::ARRAY => (3, 0),
            kind::STRUCT | kind::UNION | kind::ENUM64 | kind::DATASEC => (0, 3),
            kind::ENUM | kind::FUNC_PROTO => (0, 2),
            _ => (0, 0),
        };
        bits |= (if per_vlen { per } else { fixed }) << (2 * k as u32);
        k += 1;
    }
    bits
}
const TRAILER_FIXED: u64 = trailer_bits(false);
const TRAILER_PER_VLEN: u64 = trailer_bits(true);
const KNOWN_KINDS: u32 = {
    let mut m = 0u32;
    let mut k = 0u8;
    while k <= kind::ENUM64 {
        if k != kind::UNKN {
            m |= 1 << k;
        }
        k += 1;
    }
    m
};

/// Bytes that follow the 12-byte common header of a type record of kind `k` with `vlen`.
#[inline]
fn trailer_len(id: u32, k: u8, vlen: usize) -> Result<usize> {
    let k = k & 0x1f;
    if KNOWN_KINDS >> k & 1 == 0 {
        return Err(BtfError::UnknownKind { id, kind: k });
    }
    let shift = 2 * k as u32;
    let fixed = (TRAILER_FIXED >> shift & 3) as usize;
    let per = (TRAILER_PER_VLEN >> shift & 3) as usize;
    Ok(4 * (fixed + per * vlen))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let w = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// One step of the walk: the record at `off` (type `id`) and where the next one starts,
/// every length checked.
#[inline(always)]
fn step(sec: &[u8], off: usize, id: u32) -> Result<(u32, usize)> {
    // One bounds check for the 12-byte common header: name_off, info, size/type.
    let Some(h) = sec.get(off..off + 12) else {
        return Err(BtfError::Truncated {
            what: "type record",
            offset: off,
            need: 12,
            have: sec.len() - off,
        });
    };
    let name_off = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let info = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let k = ((info >> 24) & 0x1f) as u8;
    let vlen = (info & 0xffff) as usize;
    let end = off + 12 + trailer_len(id, k, vlen)?;
    if end > sec.len() {
        return Err(BtfError::Malformed(format!(
            "type id {id} ({}): {vlen} entries need {} bytes at type-section offset {}, {} left",
            kind::name(k),
            end - off - 12,
            off + 12,
            sec.len().saturating_sub(off + 12)
        )));
    }
    Ok((name_off, end))
}

/// Where `name\0` is in `strs` (a name may also be the tail of a longer string), 0 left out:
/// exactly the name offsets that read as `name`.
fn places(strs: &[u8], name: &str) -> Vec<u32> {
    let mut needle = Vec::with_capacity(name.len() + 1);
    needle.extend_from_slice(name.as_bytes());
    needle.push(0);
    memchr::memmem::find_iter(strs, &needle)
        .map(|o| o as u32)
        // As the eager index does: a type without a name (offset 0) is not named "".
        .filter(|&o| o != 0)
        .collect()
}

impl Lazy {
    fn new(data: FileBytes, announced: &[&str]) -> Result<Lazy> {
        let (types, strings) = {
            let (_, t, s) = header(&data)?;
            let base = data.as_ptr() as usize;
            let range = |sub: &[u8]| {
                let start = sub.as_ptr() as usize - base;
                start..start + sub.len()
            };
            (range(t), range(s))
        };
        let strs = &data[strings.clone()];
        if strs.first() != Some(&0) {
            return Err(BtfError::Malformed(
                "string section must begin with an empty string (a NUL byte)".to_string(),
            ));
        }
        if strs.last() != Some(&0) {
            return Err(BtfError::Malformed(
                "string section does not end with a NUL byte".to_string(),
            ));
        }
        // The announced names: where each is in the string section.
        let mut found: HashMap<String, Vec<u32>> = HashMap::new();
        let mut wanted: Vec<(u32, usize)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for name in announced {
            if names.iter().any(|n| n == name) {
                continue;
            }
            for at in places(strs, name) {
                wanted.push((at, names.len()));
            }
            names.push(name.to_string());
        }
        // A record's name offset is looked up among the places only when its bit (name
        // offset mod 2^16) is set here: one test for most records. A short name can end
        // thousands of strings ("pid", "file"), so the places are many: the filter must be
        // wide and the lookup a search, not a scan (a lazy open with 12 such names took
        // 40 ms with a 64-bit filter and a scan, 2.4 ms now, the walk 0.8 ms of it).
        wanted.sort_unstable();
        let mut filter = vec![0u64; FILTER_BITS / 64];
        for (at, _) in &wanted {
            let bit = *at as usize % FILTER_BITS;
            filter[bit / 64] |= 1 << (bit % 64);
        }
        let mut hits: Vec<Vec<u32>> = vec![Vec::new(); names.len()];
        let sec = &data[types.clone()];
        // The smallest record is 12 bytes: an upper bound on the count, for one reserve.
        let mut marks = Vec::with_capacity(sec.len() / 12 / MARK + 1);
        let mut off = 0usize;
        let mut count = 0usize;
        while off < sec.len() {
            let id = count as u32 + 1;
            if count.is_multiple_of(MARK) {
                marks.push(off as u32);
            }
            let (name_off, end) = step(sec, off, id)?;
            let bit = name_off as usize % FILTER_BITS;
            if filter[bit / 64] >> (bit % 64) & 1 != 0 {
                let first = wanted.partition_point(|&(at, _)| at < name_off);
                for &(_, n) in wanted[first..]
                    .iter()
                    .take_while(|&&(at, _)| at == name_off)
                {
                    hits[n].push(id);
                }
            }
            count += 1;
            off = end;
        }
        for (name, ids) in names.into_iter().zip(hits) {
            found.insert(name, ids);
        }
        let chunks = (0..(count + 1).div_ceil(CHUNK))
            .map(|_| OnceLock::new())
            .collect();
        Ok(Lazy {
            data,
            types,
            strings,
            count,
            marks,
            name_offs: OnceLock::new(),
            chunks,
            found: Mutex::new(found),
        })
    }

    /// Every type's name offset, by a second walk (the first was checked, so this one
    /// cannot fail on the same bytes; an error is kept, not panicked on).
    fn name_offs(&self) -> std::result::Result<&Words, String> {
        self.name_offs
            .get_or_init(|| {
                let sec = &self.data[self.types.clone()];
                let mut w = Words::with_capacity(self.count).map_err(|e| e.to_string())?;
                let mut off = 0usize;
                for id in 1..=self.count as u32 {
                    let (name_off, end) = step(sec, off, id).map_err(|e| e.to_string())?;
                    w.push(name_off);
                    off = end;
                }
                Ok(w)
            })
            .as_ref()
            .map_err(|e| e.clone())
    }

    pub(super) fn len(&self) -> usize {
        self.count + 1
    }

    pub(super) fn strings(&self) -> &[u8] {
        &self.data[self.strings.clone()]
    }

    /// Where type `id`'s record starts: from the mark before it, at most MARK - 1 steps.
    fn record(&self, id: u32) -> Option<usize> {
        let i = (id as usize).checked_sub(1)?;
        if i >= self.count {
            return None;
        }
        let sec = &self.data[self.types.clone()];
        let mut off = *self.marks.get(i / MARK)? as usize;
        for n in (i - i % MARK)..i {
            off = step(sec, off, n as u32 + 1).ok()?.1;
        }
        Some(off)
    }

    /// The name offset of type `id` (0 for void), without decoding it.
    pub(super) fn name_off(&self, id: u32) -> Option<u32> {
        if id == 0 {
            return Some(0);
        }
        let off = self.record(id)?;
        u32_at(&self.data[self.types.clone()], off)
    }

    /// The `BTF_KIND_*` of type `id`, without decoding it (`UNKN` for void or a bad id).
    pub(super) fn kind(&self, id: u32) -> u8 {
        self.record(id)
            .and_then(|o| u32_at(&self.data[self.types.clone()], o + 4))
            .map(|info| ((info >> 24) & 0x1f) as u8)
            .unwrap_or(kind::UNKN)
    }

    /// Type `id`, decoded and checked the first time it is asked for.
    pub(super) fn get(&self, id: u32) -> Result<&Type> {
        let n = self.len();
        if id as usize >= n {
            return Err(BtfError::NoSuchType(id));
        }
        let chunk = self
            .chunks
            .get(id as usize / CHUNK)
            .ok_or(BtfError::NoSuchType(id))?
            .get_or_init(|| (0..CHUNK).map(|_| OnceLock::new()).collect());
        let slot = chunk
            .get(id as usize % CHUNK)
            .ok_or(BtfError::NoSuchType(id))?;
        if let Some(t) = slot.get() {
            return Ok(t);
        }
        let t = self.decode(id)?;
        Ok(slot.get_or_init(|| t))
    }

    fn decode(&self, id: u32) -> Result<Type> {
        let Some(off) = self.record(id) else {
            return Ok(Type {
                name_off: 0,
                kind: Kind::Void,
            });
        };
        let mut r = Reader::at(&self.data[self.types.clone()], off);
        let t = decode_one(&mut r, id)?;
        check_type(id, &t, self.len() as u32, self.strings.len() as u32)?;
        Ok(t)
    }

    /// Every type id named `name`, in increasing order.
    pub(super) fn find_all(&self, name: &str) -> Vec<u32> {
        if let Ok(found) = self.found.lock() {
            if let Some(ids) = found.get(name) {
                return ids.clone();
            }
        }
        let at = places(self.strings(), name);
        let mut ids = Vec::new();
        // Usually one place (vmlinux's strings are deduplicated); a few more when the name
        // is also the tail of a longer string. For each, blocks of 64 offsets are compared
        // at once (the compiler makes that SIMD) and only a block with a hit is looked into.
        let name_offs = match (at.is_empty(), self.name_offs()) {
            (true, _) => &[][..],
            (false, Ok(w)) => w.as_slice(),
            // Unreachable for bytes the first walk accepted; found nothing rather than panic.
            (false, Err(_)) => &[][..],
        };
        for &one in &at {
            for (b, block) in name_offs.chunks(64).enumerate() {
                if block.iter().fold(false, |hit, &no| hit | (no == one)) {
                    let first = b * 64 + 1;
                    ids.extend(
                        (0..block.len())
                            .filter(|&i| block[i] == one)
                            .map(|i| (first + i) as u32),
                    );
                }
            }
        }
        if at.len() > 1 {
            ids.sort_unstable();
        }
        if let Ok(mut found) = self.found.lock() {
            found.insert(name.to_string(), ids.clone());
        }
        ids
    }

    /// Decode every type (for callers that need the whole table).
    pub(super) fn decode_all(&self) -> Result<Vec<Type>> {
        (0..self.len() as u32).map(|id| self.decode(id)).collect()
    }
}

impl Btf {
    /// The running kernel's BTF (`/sys/kernel/btf/vmlinux`), mapped in one call where the
    /// kernel allows it, with types decoded on first use: for loading (CO-RE, attach ids).
    /// `types` and `strings` stay empty; ask through [`Btf::get`], [`Btf::name`],
    /// [`Btf::find_by_name`] and the other methods, which work the same on either kind.
    pub fn kernel_lazy() -> Result<Btf> {
        Self::kernel_lazy_for(&[])
    }

    /// [`Btf::kernel_lazy`], with the names about to be looked up announced: their ids are
    /// noted during the one walk the open makes anyway (other names still work, at the
    /// price of a second walk).
    pub fn kernel_lazy_for(names: &[&str]) -> Result<Btf> {
        Self::from_file_lazy_for(Path::new("/sys/kernel/btf/vmlinux"), names)
    }

    /// BTF bytes decoded lazily, `names` announced, as [`Btf::kernel_lazy_for`] reads the
    /// kernel's (for tests and fuzzing of that parser; the bytes are copied).
    pub fn parse_lazy(bytes: &[u8], names: &[&str]) -> Result<Btf> {
        Ok(Btf {
            lazy: Some(Arc::new(Lazy::new(FileBytes::Read(bytes.to_vec()), names)?)),
            ..Default::default()
        })
    }

    /// A BTF file, decoded lazily (see [`Btf::kernel_lazy`]).
    pub fn from_file_lazy(path: &Path) -> Result<Btf> {
        Self::from_file_lazy_for(path, &[])
    }

    /// A BTF file, decoded lazily, `names` announced (see [`Btf::kernel_lazy_for`]).
    pub fn from_file_lazy_for(path: &Path, names: &[&str]) -> Result<Btf> {
        let data = read_btf_file(path).map_err(|source| BtfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Btf {
            lazy: Some(Arc::new(Lazy::new(data, names)?)),
            ..Default::default()
        })
    }

    /// Whether types are decoded on first use ([`Btf::kernel_lazy`]).
    pub fn is_lazy(&self) -> bool {
        self.lazy.is_some()
    }

    /// Decode every type of a lazy BTF into `types` and `strings`, so that it can be edited
    /// or walked as a table. Does nothing for a BTF that is not lazy.
    pub fn materialize(&mut self) -> Result<()> {
        if let Some(l) = self.lazy.take() {
            match l.decode_all() {
                Ok(types) => {
                    self.types = types;
                    self.strings = l.strings().to_vec();
                    self.invalidate_index();
                }
                Err(e) => {
                    self.lazy = Some(l);
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obj::Object;

    const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

    fn both() -> Option<(Btf, Btf)> {
        if !crate::test_env::have("btf::lazy", Path::new(VMLINUX), "the kernel's BTF") {
            return None;
        }
        Some((Btf::kernel().unwrap(), Btf::kernel_lazy().unwrap()))
    }

    #[test]
    fn every_type_decodes_as_the_eager_parser_does() {
        let Some((eager, lazy)) = both() else { return };
        assert!(lazy.is_lazy() && lazy.types.is_empty());
        assert_eq!(eager.len(), lazy.len());
        for id in 0..eager.len() as u32 + 2 {
            assert_eq!(eager.get(id).ok(), lazy.get(id).ok(), "type id {id}");
            assert_eq!(eager.name(id), lazy.name(id), "name of type id {id}");
            assert_eq!(eager.kind_of(id), lazy.kind_of(id), "kind of type id {id}");
        }
    }

    #[test]
    fn names_are_found_as_the_index_finds_them() {
        let Some((eager, lazy)) = both() else { return };
        let mut names: Vec<String> = (1..eager.len() as u32)
            .step_by(97)
            .map(|id| eager.name(id).to_string())
            .collect();
        names.extend(
            ["", "task_struct", "int", "no_such_type_anywhere", "struct"].map(String::from),
        );
        for n in &names {
            let a: Vec<u32> = eager.find_all_by_name(n).collect();
            let b: Vec<u32> = lazy.find_all_by_name(n).collect();
            assert_eq!(a, b, "ids named '{n}'");
            // Asked twice: the cached answer is the same.
            assert_eq!(b, lazy.find_all_by_name(n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn announced_names_are_found_in_the_first_walk_as_the_index_finds_them() {
        let Some((eager, _)) = both() else { return };
        let mut names: Vec<String> = (1..eager.len() as u32)
            .step_by(331)
            .map(|id| eager.name(id).to_string())
            .collect();
        names.extend(
            [
                "",
                "task_struct",
                "int",
                "no_such_type_anywhere",
                "xdp_md",
                "task_struct",
                // Names that end thousands of strings: many places, one filter bit each.
                "pid",
                "file",
            ]
            .map(String::from),
        );
        let announced: Vec<&str> = names.iter().map(String::as_str).collect();
        let lazy = Btf::kernel_lazy_for(&announced).unwrap();
        let l = lazy.lazy.as_ref().unwrap();
        for n in &names {
            let a: Vec<u32> = eager.find_all_by_name(n).collect();
            let b: Vec<u32> = lazy.find_all_by_name(n).collect();
            assert_eq!(a, b, "ids named '{n}'");
        }
        assert!(
            l.name_offs.get().is_none(),
            "announced names needed no second walk"
        );
        // A name not announced takes the second walk, and is found all the same.
        let a: Vec<u32> = eager.find_all_by_name("sk_buff").collect();
        assert_eq!(a, lazy.find_all_by_name("sk_buff").collect::<Vec<_>>());
        assert!(l.name_offs.get().is_some());
        // Records are found from the marks: every id, also those between two marks.
        for id in (0..eager.len() as u32 + 2).step_by(13) {
            assert_eq!(eager.get(id).ok(), lazy.get(id).ok(), "type id {id}");
        }
    }

    #[test]
    fn materialize_gives_the_eager_tables() {
        let Some((eager, mut lazy)) = both() else {
            return;
        };
        lazy.materialize().unwrap();
        assert!(!lazy.is_lazy());
        assert_eq!(eager.types, lazy.types);
        assert_eq!(eager.strings, lazy.strings);
    }

    #[test]
    fn core_relocations_resolve_the_same_against_lazy_and_eager_kernel_btf() {
        let Some((eager, lazy)) = both() else { return };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bpf");
        if !crate::test_env::have("btf::lazy", &dir, "make bpf builds the objects") {
            return;
        }
        let entries = std::fs::read_dir(&dir).expect("target/bpf readable");
        let mut checked = 0;
        for e in entries.flatten() {
            let path = e.path();
            if !path.to_string_lossy().ends_with(".bpf.o") {
                continue;
            }
            let obj = Object::from_file(&path).unwrap();
            for p in &obj.programs {
                let fd = |_: &str| Some(42);
                let a = crate::reloc::link(&obj, p, &fd, Some(&eager));
                let b = crate::reloc::link(&obj, p, &fd, Some(&lazy));
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.insns, b.insns, "{}: prog {}", path.display(), p.name);
                        assert_eq!(a.core.len(), b.core.len());
                        for ((i, x), (j, y)) in a.core.iter().zip(&b.core) {
                            assert_eq!(i, j);
                            assert_eq!(
                                (&x.local_spec, &x.target_spec, x.old, x.new),
                                (&y.local_spec, &y.target_spec, y.old, y.new)
                            );
                        }
                        checked += a.core.len();
                    }
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("{}: prog {}: {a:?} vs {b:?}", path.display(), p.name),
                }
            }
        }
        assert!(checked > 0, "no CO-RE record compared in {}", dir.display());
    }

    fn blob() -> Option<Vec<u8>> {
        std::fs::read(VMLINUX).ok()
    }

    #[test]
    fn trailer_lengths_are_the_kernel_layouts() {
        let want = [
            (kind::INT, 4, 0),
            (kind::PTR, 0, 0),
            (kind::ARRAY, 12, 0),
            (kind::STRUCT, 0, 12),
            (kind::UNION, 0, 12),
            (kind::ENUM, 0, 8),
            (kind::FWD, 0, 0),
            (kind::TYPEDEF, 0, 0),
            (kind::VOLATILE, 0, 0),
            (kind::CONST, 0, 0),
            (kind::RESTRICT, 0, 0),
            (kind::FUNC, 0, 0),
            (kind::FUNC_PROTO, 0, 8),
            (kind::VAR, 4, 0),
            (kind::DATASEC, 0, 12),
            (kind::FLOAT, 0, 0),
            (kind::DECL_TAG, 4, 0),
            (kind::TYPE_TAG, 0, 0),
            (kind::ENUM64, 0, 12),
        ];
        for (k, fixed, per) in want {
            assert_eq!(trailer_len(1, k, 0).unwrap(), fixed, "kind {k}");
            assert_eq!(trailer_len(1, k, 5).unwrap(), fixed + 5 * per, "kind {k}");
        }
        for k in [kind::UNKN, 20, 31] {
            assert!(trailer_len(1, k, 0).is_err(), "kind {k}");
        }
    }

    #[test]
    fn truncated_or_damaged_blobs_are_errors_not_panics() {
        if !crate::test_env::have("btf::lazy", Path::new(VMLINUX), "the kernel's BTF") {
            return;
        }
        let data = blob().expect("readable");
        for cut in [0, 7, 24, 1000, data.len() / 2, data.len() - 1] {
            assert!(
                Lazy::new(FileBytes::Read(data[..cut].to_vec()), &["task_struct"]).is_err(),
                "cut at {cut}"
            );
        }
        // Type 1's name offset points past the strings: found when type 1 is asked for.
        let (h, _, _) = header(&data).unwrap();
        let rec = h.hdr_len as usize + h.type_off as usize;
        let mut bad = data.clone();
        bad[rec..rec + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let l = Lazy::new(FileBytes::Read(bad), &[]).unwrap();
        assert!(l.get(1).is_err());
        assert!(l.get(2).is_ok());
        assert!(l.get(l.len() as u32).is_err());
        // An unknown kind in type 1 is refused when the records are walked.
        let mut bad = data.clone();
        bad[rec + 7] = 0x1f;
        assert!(Lazy::new(FileBytes::Read(bad), &[]).is_err());
    }
}
