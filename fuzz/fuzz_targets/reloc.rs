//! Parse an object, then do what load does before the kernel sees anything: link every
//! program with a dummy map-fd function (CO-RE against this machine's kernel BTF when it
//! can be read), fix up the BTF and write it back. Any object that parsed must give
//! instructions or a named error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loader::obj::Object;

fuzz_target!(|data: &[u8]| {
    let Ok(obj) = Object::parse("fuzz", data) else {
        return;
    };
    // Read once per process (the loader caches it); None where there is no kernel BTF.
    let kbtf = loader::load::kernel_btf().ok();
    // Every map gets a plausible fd; one name gets none, to reach "map was not created".
    let map_fd = |name: &str| (name != "missing").then_some(3);
    for prog in &obj.programs {
        let _ = loader::reloc::link(&obj, prog, &map_fd, kbtf.as_deref());
    }
    if let Ok(Some((btf, _))) = obj.btf_for_load() {
        let _ = btf.to_bytes();
    }
});
