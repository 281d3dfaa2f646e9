//! proc_events (clang-built, CO-RE reads of task_struct, loaded with bpftool) on the
//! sched_process_exec/fork/exit tracepoints through our attach, read through our ring
//! buffer reader. The test spawns a small process tree and must see exactly its processes,
//! each once per kind, with the right parents and names. A binary of its own: no other test
//! thread of this process spawns anything meanwhile.

mod tracing_support;

use loader::attach::attach_tracepoint;
use loader::events::{format, RingBuf};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;
use tracing_support::bpftool::Loaded;

const EXEC: u32 = 0;
const FORK: u32 = 1;
const EXIT: u32 = 2;

/// `struct proc_event` (common.h).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Proc {
    kind: u32,
    pid: u32,
    tgid: u32,
    ppid: u32,
    comm: String,
}

fn parse(b: &[u8]) -> Proc {
    assert_eq!(b.len(), 32, "proc_event size");
    let u = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
    let comm = &b[16..32];
    let end = comm.iter().position(|&c| c == 0).unwrap_or(16);
    Proc {
        kind: u(0),
        pid: u(4),
        tgid: u(8),
        ppid: u(12),
        comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
    }
}

#[test]
fn proc_events_see_exactly_the_spawned_process_tree() {
    rbpf_tests::require_priv!();
    let obj = Loaded::new(&rbpf_tests::bpf_obj("proc_events"));
    let mut reader = RingBuf::open(obj.map("proc_rb").as_fd()).unwrap();
    let (on_exec, on_fork, on_exit) = (
        obj.prog("on_exec"),
        obj.prog("on_fork"),
        obj.prog("on_exit"),
    );
    let links = [
        attach_tracepoint(on_exec.as_fd(), "sched", "sched_process_exec").unwrap(),
        attach_tracepoint(on_fork.as_fd(), "sched", "sched_process_fork").unwrap(),
        attach_tracepoint(on_exit.as_fd(), "sched", "sched_process_exit").unwrap(),
    ];

    // The tree: three `true` children, and a `sh` child that runs two `true` of its own
    // (the trailing `exit` keeps sh from exec'ing the last one in place).
    let me = std::process::id();
    let mut trues = Vec::new();
    for _ in 0..3 {
        let mut c = Command::new("/bin/true").spawn().unwrap();
        trues.push(c.id());
        assert!(c.wait().unwrap().success());
    }
    let mut sh = Command::new("/bin/sh")
        .args(["-c", "/bin/true; /bin/true; exit 0"])
        .spawn()
        .unwrap();
    let sh_pid = sh.id();
    assert!(sh.wait().unwrap().success());
    drop(links);

    let (mut all, mut raw) = (Vec::new(), Vec::new());
    let mut on = |r: &[u8]| {
        all.push(parse(r));
        raw.push(r.to_vec());
    };
    reader
        .poll(Some(Duration::from_millis(50)), &mut on)
        .unwrap();
    reader.read(&mut on).unwrap();

    // Walk the tree down from this process through the fork events.
    let mut tree = BTreeSet::from([me]);
    let mut parent = BTreeMap::new();
    for e in all.iter().filter(|e| e.kind == FORK) {
        if tree.contains(&e.ppid) {
            tree.insert(e.pid);
            parent.insert(e.pid, e.ppid);
        }
    }
    tree.remove(&me);
    eprintln!("{} events; tree under {me}: {parent:?}", all.len());
    let grandchildren: Vec<u32> = parent
        .iter()
        .filter(|(_, &p)| p == sh_pid)
        .map(|(&c, _)| c)
        .collect();
    let mut expected: BTreeSet<u32> = trues.iter().copied().collect();
    expected.insert(sh_pid);
    expected.extend(&grandchildren);
    assert_eq!(grandchildren.len(), 2, "sh forks twice: {parent:?}");
    assert_eq!(tree, expected, "exactly the spawned processes");

    for &pid in &tree {
        let of = |kind: u32| -> Vec<&Proc> {
            all.iter()
                .filter(|e| e.kind == kind && e.pid == pid)
                .collect()
        };
        let (fork, exec, exit) = (of(FORK), of(EXEC), of(EXIT));
        assert_eq!(
            (fork.len(), exec.len(), exit.len()),
            (1, 1, 1),
            "pid {pid}: {all:?}"
        );
        let ppid = if grandchildren.contains(&pid) {
            sh_pid
        } else {
            me
        };
        let comm = if pid == sh_pid { "sh" } else { "true" };
        assert_eq!((fork[0].tgid, fork[0].ppid), (pid, ppid), "fork of {pid}");
        let want = |kind| Proc {
            kind,
            pid,
            tgid: pid,
            ppid,
            comm: comm.into(),
        };
        assert_eq!(*exec[0], want(EXEC));
        assert_eq!(*exit[0], want(EXIT));
    }
    // The sh exec record through the object's own BTF, as `--events proc_rb=proc_event`
    // prints it.
    let elf = loader::obj::Object::from_file(&rbpf_tests::bpf_obj("proc_events")).unwrap();
    let btf = elf.btf.expect("proc_events has BTF");
    let ty = format::record_type(&btf, "struct proc_event").expect("proc_event in BTF");
    let i = all
        .iter()
        .position(|e| e.kind == EXEC && e.pid == sh_pid)
        .unwrap();
    assert_eq!(
        format::line(&btf, ty, &raw[i]),
        format!("kind=0 pid={sh_pid} tgid={sh_pid} ppid={me} comm=sh")
    );

    // The program's own per-kind counters saw at least as much (they count every process).
    let counts = obj.map("proc_counts");
    for kind in [EXEC, FORK, EXIT] {
        let mut v = [0u8; 8];
        loader::sys::map_lookup(counts.as_fd(), &kind.to_ne_bytes(), &mut v).unwrap();
        assert!(
            u64::from_ne_bytes(v) >= tree.len() as u64,
            "proc_counts[{kind}]"
        );
    }
}
