//! rbpf-load: load, attach and explain eBPF programs. See `rbpf-load --help`.
fn main() {
    std::process::exit(loader::cli::main());
}
