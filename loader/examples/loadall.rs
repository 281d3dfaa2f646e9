//! Load every program and map of an object, print what the kernel accepted, unload.
//! `cargo run --example loadall -- target/bpf/xdp_count.bpf.o`
fn main() {
    for arg in std::env::args().skip(1) {
        let obj = match loader::obj::Object::from_file(std::path::Path::new(&arg)) {
            Ok(o) => o,
            Err(e) => {
                println!("{arg}: {e}");
                continue;
            }
        };
        let opts = loader::load::LoadOptions {
            explain: Some(Box::new(|s| println!("  | {s}"))),
            ..Default::default()
        };
        match loader::load::load(&obj, &opts) {
            Ok(l) => {
                for p in &l.programs {
                    println!(
                        "{arg}: prog {} id {} ({} insns)",
                        p.name, p.id, p.insn_count
                    );
                }
            }
            Err(e) => println!("{arg}: ERROR {e}"),
        }
    }
}
