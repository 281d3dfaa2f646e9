//! Parse one object file under an address-space limit and say what happened, for the
//! malformed-object tests: `rbpf-parse-bounded FILE LIMIT_MB` prints `ok` or `err: MESSAGE`,
//! then `peak_kb: N` (the peak resident set, VmHWM). An allocation past the limit aborts it,
//! and so does a panic: the test sees an abnormal exit.

use nix::sys::resource::{setrlimit, Resource};

fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(limit)) = (args.get(1), args.get(2).and_then(|l| l.parse::<u64>().ok()))
    else {
        eprintln!("usage: rbpf-parse-bounded FILE LIMIT_MB");
        std::process::exit(2);
    };
    let data = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    });
    if let Err(e) = setrlimit(Resource::RLIMIT_AS, limit << 20, limit << 20) {
        eprintln!("setrlimit: {e}");
        std::process::exit(2);
    }
    match loader::obj::Object::parse("bounded", &data) {
        Ok(_) => println!("ok"),
        Err(e) => println!("err: {e}"),
    }
    println!("peak_kb: {}", peak_kb());
}
