//! Drivers for bench/run.sh: the parts of the benchmark that time our library inside one
//! process (parse-only, kernel BTF, event drain, attaching to many devices). Prints one
//! line per result: `NAME VALUE UNIT`. A benchmark, not a test.
//!
//! usage:
//!   rbpf-bench parse ROUNDS OBJ...          Object::from_file, median per object
//!   rbpf-bench kbtf ROUNDS                  vmlinux BTF: decoded whole + indexed, and lazily
//!   rbpf-bench drain perf|rb OBJ PROG MAP BATCH ROUNDS
//!                                           BATCH events made by BPF_PROG_TEST_RUN, then drained
//!   rbpf-bench scale OBJ PROG DEV...        load once, attach a tc ingress filter to every DEV
//!   rbpf-bench ktime OBJ DIR                load bench/ktime.bpf.o, attach it to sys_enter and
//!                                           sys_exit, pin links and maps in DIR (bpffs), exit

use loader::btf::{kind, Btf};
use loader::events::{PerfEventArray, RingBuf};
use loader::load::{self, LoadOptions};
use loader::obj::Object;
use netlink::{Handle, TcAttachFlags, TcDirection, TcHook};
use std::error::Error;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Instant;

type Res<T = ()> = Result<T, Box<dyn Error>>;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn main() -> Res {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("parse") => parse(&args[1..]),
        Some("kbtf") => kbtf(&args[1..]),
        Some("klazy") => klazy(),
        Some("drain") => drain(&args[1..]),
        Some("scale") => scale(&args[1..]),
        Some("ktime") => ktime(&args[1..]),
        _ => {
            Err("usage: rbpf-bench parse|kbtf|klazy|drain|scale|ktime ... (see the source)".into())
        }
    }
}

fn parse(a: &[String]) -> Res {
    let rounds: usize = a.first().ok_or("ROUNDS")?.parse()?;
    for path in &a[1..] {
        let mut t = Vec::new();
        for _ in 0..rounds {
            let t0 = Instant::now();
            let obj = Object::from_file(Path::new(path))?;
            t.push(t0.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(obj);
        }
        let name = Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(path);
        println!("parse:{name} {:.1} us", median(&mut t));
    }
    Ok(())
}

fn kbtf(a: &[String]) -> Res {
    let rounds: usize = a.first().ok_or("ROUNDS")?.parse()?;
    let (mut read, mut index) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t0 = Instant::now();
        let btf = Btf::kernel()?;
        let t1 = Instant::now();
        // The first lookup by name builds the index; CO-RE asks by name.
        let id = btf.find_by_name("task_struct", kind::STRUCT);
        let t2 = Instant::now();
        if id.is_none() {
            return Err("task_struct not found in the kernel's BTF".into());
        }
        read.push((t1 - t0).as_secs_f64() * 1e3);
        index.push((t2 - t1).as_secs_f64() * 1e3);
        std::hint::black_box(btf);
    }
    println!("kbtf:parse {:.2} ms", median(&mut read));
    println!("kbtf:index {:.2} ms", median(&mut index));
    // What loading uses: mapped, decoded on first use, names found without an index.
    let (mut open, mut find) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (o, f) = lazy_open_find()?;
        open.push(o * 1e3);
        find.push(f * 1e3);
    }
    println!("kbtf:lazy_open {:.2} ms", median(&mut open));
    println!("kbtf:lazy_find {:.2} ms", median(&mut find));
    Ok(())
}

/// One lazy open and one CO-RE-style lookup in a fresh process: what a load pays, cold.
fn klazy() -> Res {
    let (open, find) = lazy_open_find()?;
    println!("klazy:open {:.0} us find {:.0} us", open * 1e6, find * 1e6);
    Ok(())
}

/// Seconds to open the kernel's BTF lazily, then to find `task_struct` (not announced:
/// the name index is built by a second walk) and decode its members.
fn lazy_open_find() -> Res<(f64, f64)> {
    let t0 = Instant::now();
    let btf = Btf::kernel_lazy()?;
    let t1 = Instant::now();
    let id = btf.find_by_name("task_struct", kind::STRUCT);
    let members = id.and_then(|id| btf.members(id).ok()).map(|m| m.len());
    let t2 = Instant::now();
    if members.unwrap_or(0) == 0 {
        return Err("task_struct not found in the kernel's BTF (lazy)".into());
    }
    std::hint::black_box(btf);
    Ok(((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64()))
}

/// An Ethernet + IPv4 + UDP frame: tc_flow turns it into one 48-byte flow_event.
fn udp_frame() -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + 16];
    f[12] = 0x08; // ETH_P_IP
    f[14] = 0x45; // version 4, IHL 5
    let total = (20 + 8 + 16) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f[22] = 64; // TTL
    f[23] = 17; // UDP
    f[26..30].copy_from_slice(&[10, 0, 0, 2]);
    f[30..34].copy_from_slice(&[10, 0, 0, 1]);
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&9999u16.to_be_bytes());
    f[38..40].copy_from_slice(&24u16.to_be_bytes());
    f
}

fn drain(a: &[String]) -> Res {
    let [kind, obj, prog, map, batch, rounds] = a else {
        return Err("drain perf|rb OBJ PROG MAP BATCH ROUNDS".into());
    };
    let batch: u32 = batch.parse()?;
    let rounds: usize = rounds.parse()?;
    let obj = Object::from_file(Path::new(obj))?;
    let opts = LoadOptions {
        only: Some(vec![prog.clone()]),
        ..Default::default()
    };
    let loaded = load::load(&obj, &opts)?;
    let p = loaded.program(prog).ok_or("program not loaded")?;
    let m = loaded.map(map).ok_or("map not created")?;
    let frame = udp_frame();
    let mut rates = Vec::new();
    let mut sum = 0u64;
    // Every event must be the frame's: UDP (17), source port 1234, destination port 9999.
    let mut bad = 0u64;
    let mut check = |d: &[u8]| {
        sum += d.len() as u64;
        let ok = d.first() == Some(&17)
            && d.get(12..14) == Some(&1234u16.to_ne_bytes()[..])
            && d.get(14..16) == Some(&9999u16.to_ne_bytes()[..]);
        bad += u64::from(!ok);
    };
    match kind.as_str() {
        "perf" => {
            // 128 pages per CPU hold a whole batch (64 bytes per sample).
            let mut r = PerfEventArray::open(m.fd.as_fd(), 128)?;
            for _ in 0..rounds + 2 {
                loader::sys::prog_test_run(p.fd.as_fd(), &frame, &[], batch)?;
                let t0 = Instant::now();
                let s = r.read(|_, d| check(d))?;
                let dt = t0.elapsed().as_secs_f64();
                if s.events != u64::from(batch) || s.lost != 0 {
                    return Err(format!(
                        "drained {} events, {} lost, of {batch}",
                        s.events, s.lost
                    )
                    .into());
                }
                rates.push(f64::from(batch) / dt);
            }
        }
        "rb" => {
            let mut r = RingBuf::open(m.fd.as_fd())?;
            for _ in 0..rounds + 2 {
                loader::sys::prog_test_run(p.fd.as_fd(), &frame, &[], batch)?;
                let t0 = Instant::now();
                let n = r.read(&mut check)?;
                let dt = t0.elapsed().as_secs_f64();
                if n != batch as usize {
                    return Err(format!("drained {n} events of {batch}").into());
                }
                rates.push(f64::from(batch) / dt);
            }
        }
        k => return Err(format!("drain {k}: perf or rb").into()),
    }
    if bad != 0 || sum == 0 {
        return Err(format!("{bad} events were not the frame that was sent").into());
    }
    // The first two rounds warm the caches and fault in the ring's pages.
    let mut rates = rates.split_off(2);
    println!("drain:{kind} {:.0} events/s", median(&mut rates));
    Ok(())
}

fn scale(a: &[String]) -> Res {
    let [obj, prog, devs @ ..] = a else {
        return Err("scale OBJ PROG DEV...".into());
    };
    let obj = Object::from_file(Path::new(obj))?;
    let opts = LoadOptions {
        only: Some(vec![prog.clone()]),
        type_hint: loader::section::by_prefix("tc"),
        ..Default::default()
    };
    let loaded = load::load(&obj, &opts)?;
    let p = loaded.program(prog).ok_or("program not loaded")?;
    let mut h = Handle::new()?;
    let hook = TcHook {
        direction: TcDirection::Ingress,
        priority: 1,
        handle: 1,
    };
    let name = format!("{}:[{}]", p.name, obj.name);
    for dev in devs {
        let ifindex = h.ifindex(dev)?;
        h.ensure_clsact(ifindex)?;
        h.tc_attach(ifindex, hook, p.fd.as_fd(), &name, TcAttachFlags::default())?;
    }
    Ok(())
}

/// The kernel-time probe for bench/runner.c -k DIR: DIR/enter and DIR/exit hold the links
/// (remove them to detach), DIR/cfg and DIR/total the maps the runner writes and reads.
fn ktime(a: &[String]) -> Res {
    let [obj, dir] = a else {
        return Err("ktime OBJ DIR".into());
    };
    let dir = Path::new(dir);
    let obj = Object::from_file(Path::new(obj))?;
    let loaded = load::load(&obj, &LoadOptions::default())?;
    load::check_pin_dir(dir)?;
    for (prog, tp, pin) in [
        ("ktime_enter", "sys_enter", "enter"),
        ("ktime_exit", "sys_exit", "exit"),
    ] {
        let p = loaded.program(prog).ok_or("program missing")?;
        let link = loader::attach::attach_raw_tracepoint(p.fd.as_fd(), tp)?;
        link.pin(&dir.join(pin))?;
    }
    for m in ["cfg", "total"] {
        let map = loaded.map(m).ok_or("map missing")?;
        load::pin_one(map.fd.as_fd(), &dir.join(m))?;
    }
    Ok(())
}
