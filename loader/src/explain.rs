//! `--explain`: the words for each step of a load, for someone who knows C but not eBPF.
//! The loader calls these with what it did; they only format text. A "why" is said once per
//! load, the first time its step happens.

use crate::obj::map_type;
use crate::obj::MapDef;
use crate::section::prog_type;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// Narration of one load: where lines go, and which explanations were given already.
pub struct Explainer<'a> {
    out: Option<&'a dyn Fn(&str)>,
    said: RefCell<BTreeSet<&'static str>>,
}

impl<'a> Explainer<'a> {
    pub fn new(out: Option<&'a dyn Fn(&str)>) -> Self {
        Explainer {
            out,
            said: RefCell::new(BTreeSet::new()),
        }
    }

    pub fn on(&self) -> bool {
        self.out.is_some()
    }

    /// One line (built only when narrating).
    pub fn say(&self, f: impl FnOnce() -> String) {
        if let Some(o) = self.out {
            o(&f());
        }
    }

    /// A step header: `-- maps`.
    pub fn step(&self, title: &str) {
        self.say(|| format!("-- {title}"));
    }

    /// The reason for something, once per load.
    pub fn why(&self, key: &'static str) {
        if self.out.is_none() || !self.said.borrow_mut().insert(key) {
            return;
        }
        if let Some(text) = reason(key) {
            self.say(|| format!("   why: {text}"));
        }
    }
}

/// The explanations, by key.
fn reason(key: &str) -> Option<&'static str> {
    Some(match key {
        "kernel_btf" => "CO-RE relocations and fentry/tp_btf targets are resolved against the running kernel's own types (its BTF), so one object works on kernels whose structs differ",
        "btf_fixup" => "clang writes BTF before the final layout is known: data section sizes and variable offsets are 0 until filled from the ELF section and symbol tables, and the kernel refuses them so",
        "btf_load" => "the kernel keeps the object's types: maps can say what their keys and values are (bpftool and `map dump` print them), and the verifier names functions and C lines in its messages",
        "btf_fail" => "programs load without BTF too; they only lose C line numbers in verifier messages and typed maps",
        "map_plain" => "a map is kernel memory shared by the programs and user space; the program finds it through the fd we put into its instructions",
        "map_data" => "C global variables live in one single-element ARRAY map per section (.data, .bss, .rodata); the program gets the address of that element's value",
        "map_init" => "the initial values of the section's variables, as the ELF file has them (.bss has none: it starts as zeroes)",
        "map_reuse" => "the map is shared through bpffs: another load pinned it (libbpf's LIBBPF_PIN_BY_NAME, iproute2's PIN_GLOBAL_NS, or --reuse-map), so this load's programs use that map instead of a new one of their own",
        "map_share" => "the object declares the map shared: pinned, the next load of this or another object that declares it finds it there and uses it",
        "map_freeze" => ".rodata is const: once frozen, not even user space can write it, so the verifier may use its values as known constants and drop code that they make unreachable",
        "map_prog_array" => "a PROG_ARRAY holds programs for bpf_tail_call(); its slots can only be filled once those programs are loaded (the last step)",
        "map_perf" => "a PERF_EVENT_ARRAY has one slot per CPU; a reader opens a perf ring buffer for each and stores its fd there",
        "map_ringbuf" => "a RINGBUF is one buffer shared by all CPUs: the program reserves and submits records, user space mmaps it and reads them in order",
        "reloc" => "clang cannot know fds: an instruction that loads a map's address names the map's ELF symbol and holds 0; the loader writes the fd (src_reg BPF_PSEUDO_MAP_FD) or the fd plus an offset into a data map's value (BPF_PSEUDO_MAP_VALUE)",
        "reloc_call" => "a call to another BPF function: the callee is appended after the program and the call's immediate becomes the distance to it",
        "core" => "CO-RE (compile once, run everywhere): clang recorded which struct field each instruction reads; the offset is rewritten to where this kernel has that field",
        "core_kernel" => "since Linux 5.17 the kernel resolves CO-RE records itself while it verifies the program (BPF_PROG_LOAD's core_relos), against its own types, so the loader need not read them (--core kernel)",
        "prog_load" => "BPF_PROG_LOAD hands the instructions to the verifier, which follows every path to prove the program safe (bounded loops, checked pointers, valid helper calls) before it may run",
        "tail_call" => "bpf_tail_call(ctx, &map, i) jumps to the program in slot i and never returns; an empty slot makes the call fail and the caller goes on",
        _ => return None,
    })
}

/// `BPF_PROG_TYPE_XDP`.
pub fn prog_type_uapi(t: u32) -> String {
    format!("BPF_PROG_TYPE_{}", prog_type::name(t).to_uppercase())
}

/// `BPF_MAP_TYPE_ARRAY`.
pub fn map_type_uapi(t: u32) -> String {
    format!("BPF_MAP_TYPE_{}", map_type::name(t).to_uppercase())
}

/// The key for the "why" of creating `def`.
pub fn map_reason(def: &MapDef) -> &'static str {
    match def.map_type {
        _ if def.data.is_some() || matches!(def.kind, crate::obj::MapKind::Data { .. }) => {
            "map_data"
        }
        map_type::PROG_ARRAY => "map_prog_array",
        map_type::PERF_EVENT_ARRAY => "map_perf",
        map_type::RINGBUF => "map_ringbuf",
        _ => "map_plain",
    }
}

/// `BPF_F_RDONLY_PROG|BPF_F_MMAPABLE`, or `0`.
pub fn map_flags(flags: u32) -> String {
    const NAMES: [(u32, &str); 7] = [
        (1 << 0, "BPF_F_NO_PREALLOC"),
        (1 << 3, "BPF_F_RDONLY"),
        (1 << 4, "BPF_F_WRONLY"),
        (1 << 7, "BPF_F_RDONLY_PROG"),
        (1 << 8, "BPF_F_WRONLY_PROG"),
        (1 << 10, "BPF_F_MMAPABLE"),
        (1 << 11, "BPF_F_PRESERVE_ELEMS"),
    ];
    let mut parts: Vec<String> = NAMES
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let rest = NAMES.iter().fold(flags, |f, (b, _)| f & !b);
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whys_are_said_once() {
        let lines = RefCell::new(Vec::new());
        let f = |s: &str| lines.borrow_mut().push(s.to_string());
        let ex = Explainer::new(Some(&f));
        ex.why("reloc");
        ex.why("reloc");
        ex.why("no such key");
        assert_eq!(lines.borrow().len(), 1);
        assert!(lines.borrow()[0].starts_with("   why: clang cannot know fds"));
        assert_eq!(map_flags(0x480), "BPF_F_RDONLY_PROG|BPF_F_MMAPABLE");
        assert_eq!(prog_type_uapi(6), "BPF_PROG_TYPE_XDP");
        assert_eq!(map_type_uapi(3), "BPF_MAP_TYPE_PROG_ARRAY");
    }
}
