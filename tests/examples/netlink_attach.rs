//! Driver of bench/netlink_attach.sh (a benchmark, not a test): attach and detach, N times
//! each, a tc filter and an XDP program for programs already loaded and pinned, through our
//! own netlink layer, in the current network namespace. Prints microseconds per
//! attach + detach pair.
//!
//! usage: netlink_attach DEV TC_PIN XDP_PIN N

use std::error::Error;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Instant;

use netlink::{Handle, TcAttachFlags, TcDirection, TcHook, XdpFlags, XdpMode};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dev, tc_pin, xdp_pin, n] = args.as_slice() else {
        return Err("usage: netlink_attach DEV TC_PIN XDP_PIN N".into());
    };
    let n: u32 = n.parse()?;
    let tc = loader::sys::obj_get(Path::new(tc_pin))?;
    let xdp = loader::sys::obj_get(Path::new(xdp_pin))?;
    let mut h = Handle::new()?;
    let ifindex = h.ifindex(dev)?;
    h.ensure_clsact(ifindex)?;
    let hook = TcHook {
        direction: TcDirection::Ingress,
        priority: 1,
        handle: 1,
    };

    let tc_once = |h: &mut Handle| -> Result<(), Box<dyn Error>> {
        h.tc_attach(ifindex, hook, tc.as_fd(), "bench", TcAttachFlags::default())?;
        h.tc_detach(ifindex, TcDirection::Ingress, 1, 1)?;
        Ok(())
    };
    for _ in 0..10 {
        tc_once(&mut h)?;
    }
    let t = Instant::now();
    for _ in 0..n {
        tc_once(&mut h)?;
    }
    let tc_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);

    let xdp_once = |h: &mut Handle| -> Result<(), Box<dyn Error>> {
        h.xdp_attach(ifindex, xdp.as_fd(), XdpMode::Native, XdpFlags::default())?;
        h.xdp_detach(ifindex, XdpMode::Native, None)?;
        Ok(())
    };
    for _ in 0..10 {
        xdp_once(&mut h)?;
    }
    let t = Instant::now();
    for _ in 0..n {
        xdp_once(&mut h)?;
    }
    let xdp_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);

    println!("tc {tc_us:.1}");
    println!("xdp {xdp_us:.1}");
    Ok(())
}
