//! ELF -> [`Object`]: programs, maps, relocations, license, BTF. No kernel.
