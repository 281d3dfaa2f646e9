//! Section and symbol names, read from the ELF string tables with a plain byte search.
//!
//! `object`'s own name lookups call the `memchr` crate, whose first call detects the CPU's
//! features with `cpuid`: in a VM every `cpuid` exits to the hypervisor, and that detection
//! cost ~70 µs of a process that otherwise only loads a plain object (names are a few
//! bytes long: a byte loop finds their end as fast). The kernel-BTF string search, which
//! does want memchr's SIMD, pays the detection only when an object needs the kernel's BTF.

use object::read::elf::{FileHeader as _, SectionHeader as _, Sym as _};
use object::{Endianness, SectionIndex, SymbolIndex};

/// The two string tables of an ELF64 object: section names and symbol names.
pub(crate) struct ElfNames<'a> {
    elf: &'a object::read::elf::ElfFile64<'a, Endianness>,
    sections: &'a [u8],
    symbols: &'a [u8],
}

impl<'a> ElfNames<'a> {
    /// The tables of `file` (None for anything but ELF64, which the parser refuses first).
    /// A table that cannot be read is empty: every name in it is then past its end.
    pub(crate) fn new(file: &'a object::File<'a>, data: &'a [u8]) -> Option<ElfNames<'a>> {
        let object::File::Elf64(elf) = file else {
            return None;
        };
        let endian = elf.endian();
        let table = elf.elf_section_table();
        let bytes = |idx: usize| -> &'a [u8] {
            table
                .section(SectionIndex(idx))
                .ok()
                .and_then(|sh| sh.data(endian, data).ok())
                .unwrap_or(&[])
        };
        let shstrndx = elf.elf_header().shstrndx(endian, data).unwrap_or(0) as usize;
        let symtab = elf.elf_symbol_table().section().0;
        let strtab = table
            .section(SectionIndex(symtab))
            .map(|s| s.sh_link(endian) as usize)
            .unwrap_or(0);
        Some(ElfNames {
            elf,
            sections: if shstrndx == 0 { &[] } else { bytes(shstrndx) },
            symbols: if strtab == 0 { &[] } else { bytes(strtab) },
        })
    }

    /// The name of section `idx` (`sh_name` in the section-name table).
    pub(crate) fn section(&self, idx: usize) -> Result<&'a str, String> {
        let endian = self.elf.endian();
        let sh = self
            .elf
            .elf_section_table()
            .section(SectionIndex(idx))
            .map_err(|e| e.to_string())?;
        str_at(self.sections, sh.sh_name(endian))
    }

    /// The name of symbol `idx` (`st_name` in the symbol-name table).
    pub(crate) fn symbol(&self, idx: usize) -> Result<&'a str, String> {
        let endian = self.elf.endian();
        let sym = self
            .elf
            .elf_symbol_table()
            .symbol(SymbolIndex(idx))
            .map_err(|e| e.to_string())?;
        str_at(self.symbols, sym.st_name(endian))
    }
}

/// The NUL-terminated UTF-8 string at `off` in `table`.
fn str_at(table: &[u8], off: u32) -> Result<&str, String> {
    let tail = table.get(off as usize..).ok_or_else(|| {
        format!(
            "offset {off} is past the string table ({} bytes)",
            table.len()
        )
    })?;
    let end = tail
        .iter()
        .position(|&c| c == 0)
        .ok_or_else(|| format!("the string at offset {off} has no terminating NUL"))?;
    std::str::from_utf8(&tail[..end])
        .map_err(|_| format!("the string at offset {off} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::str_at;

    #[test]
    fn strings_are_found_checked_and_refused_past_the_end() {
        let t = b"\0.text\0xdp\0\xff\0open";
        assert_eq!(str_at(t, 0), Ok(""));
        assert_eq!(str_at(t, 1), Ok(".text"));
        assert_eq!(str_at(t, 3), Ok("ext"));
        assert_eq!(str_at(t, 7), Ok("xdp"));
        assert!(str_at(t, 11).unwrap_err().contains("UTF-8"));
        assert!(str_at(t, 13).unwrap_err().contains("NUL"));
        assert!(str_at(t, 99).unwrap_err().contains("past"));
    }
}
