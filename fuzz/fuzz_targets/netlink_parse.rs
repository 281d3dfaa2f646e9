//! `netlink::parse_reply` on arbitrary datagrams: what a socket hands back is untrusted
//! input too (a kernel bug, a wrong socket); the parser must say what is wrong, not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msgs) = netlink::parse_reply(data) {
        for m in &msgs {
            let _ = format!("{m:?}");
        }
    }
});
