//! Parse an object, then link every program with a dummy map-fd function: the relocator
//! must turn any object that parsed into instructions or a named error, without the kernel.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loader::obj::Object;

fuzz_target!(|data: &[u8]| {
    let Ok(obj) = Object::parse("fuzz", data) else {
        return;
    };
    // Every map gets a plausible fd; one name gets none, to reach "map was not created".
    let map_fd = |name: &str| (name != "missing").then_some(3);
    for prog in &obj.programs {
        let _ = loader::reloc::link(&obj, prog, &map_fd, None);
    }
});
