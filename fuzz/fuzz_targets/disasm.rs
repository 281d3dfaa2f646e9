//! The disassembler on arbitrary instruction bytes: every byte pattern is some instruction
//! or a line saying it is not one, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (insns, _) = loader::insn::decode(data);
    let lines = loader::disasm::disasm(&insns);
    // With a relocation symbol at every index, as `inspect --disasm` prints them.
    let with_sym = loader::disasm::disasm_with(&insns, |i| (i % 3 == 0).then(|| "sym".to_string()));
    assert_eq!(
        lines.len(),
        with_sym.len(),
        "symbols change no instruction boundaries"
    );
});
