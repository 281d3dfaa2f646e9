//! `aya-loader OBJ`: load every map and program of OBJ with aya (Ebpf::load_file, then
//! `load()` on each program), attach nothing, exit (which unloads everything).

use aya::programs::Program;
use aya::Ebpf;
use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args().nth(1).ok_or("usage: aya-loader OBJ")?;
    let mut bpf = Ebpf::load_file(&path)?;
    for (name, prog) in bpf.programs_mut() {
        match prog {
            Program::RawTracePoint(p) => p.load()?,
            Program::TracePoint(p) => p.load()?,
            Program::Xdp(p) => p.load()?,
            Program::SchedClassifier(p) => p.load()?,
            _ => return Err(format!("{name}: program type not handled by this loader").into()),
        }
    }
    Ok(())
}
