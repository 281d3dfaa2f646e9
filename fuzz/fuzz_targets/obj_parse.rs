//! `Object::parse` on arbitrary bytes: an `Err` is fine, a panic, a hang or an allocation
//! out of proportion to the input is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = loader::obj::Object::parse("fuzz", data);
});
