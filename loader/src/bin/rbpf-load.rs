fn main() {
    eprintln!("rbpf-load: not yet");
    std::process::exit(2);
}
