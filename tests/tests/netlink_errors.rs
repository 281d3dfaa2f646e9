//! What the user sees when a netlink operation fails: the operation in tc/ip words with the
//! device, the errno, and the kernel's extended-ack text when it gives one (our own diagnosis
//! when it does not). And a failing test leaves nothing behind.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Mutex;

use netlink::{Handle, NetlinkError, TcAttachFlags, TcDirection, TcHook, XdpFlags, XdpMode};
use rbpf_tests::lab::Lab;
use rbpf_tests::pins::{self, Pinned};

const ING: TcDirection = TcDirection::Ingress;

fn hook(priority: u16, handle: u32) -> TcHook {
    TcHook {
        direction: ING,
        priority,
        handle,
    }
}

/// `tc` run in the namespace without remounting /sys (so pins stay visible).
fn tc_in(ns: &str, args: &[&str]) {
    let netns = format!("--net=/run/netns/{ns}");
    let mut all = vec![netns.as_str(), "tc"];
    all.extend_from_slice(args);
    rbpf_tests::run("nsenter", &all);
}

fn done(lab: Lab, pinned: Vec<Pinned>, ids: Vec<u32>) {
    let names = vec![lab.ns_a.clone(), lab.ns_b.clone()];
    let dirs: Vec<_> = pinned
        .iter()
        .flat_map(|p| [p.dir.clone(), p.maps_dir.clone()])
        .collect();
    drop(lab);
    drop(pinned);
    pins::assert_left_nothing(&names, &ids, &dirs);
}

#[test]
fn a_missing_device_is_named() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    let objs = Pinned::load("xdp_count", None);
    let ids = pins::ids_of(&objs);
    let prog = objs.prog("xdp_count");
    let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());

    let e = h.ifindex("nosuchdev0").unwrap_err();
    assert!(matches!(e, NetlinkError::NoDevice { .. }), "{e:?}");
    assert_eq!(e.errno(), Some(libc::ENODEV));
    assert_eq!(
        e.to_string(),
        "no device \"nosuchdev0\" in this network namespace"
    );

    // The host's devices are not in the lab's namespace: lab b's veth is not visible in a.
    let e = h.ifindex(&lab.veth_b).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("no device {:?} in this network namespace", lab.veth_b)
    );

    let missing = 99_999;
    let e = h.ensure_clsact(missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tc qdisc add dev ifindex 99999 clsact: no device with ifindex 99999 in this network namespace"
    );
    let e = h
        .xdp_attach(missing, prog.as_fd(), XdpMode::Native, XdpFlags::default())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "ip link set dev ifindex 99999 xdpdrv fd {}: no device with ifindex 99999 in this \
             network namespace",
            prog.as_raw_fd()
        )
    );
    let e = h.ifindex("this-name-is-too-long").unwrap_err();
    assert_eq!(
        e.to_string(),
        "ip link show dev \"this-name-is-too-long\": not a valid interface name (1 to 15 \
         bytes, no '/', ':' or spaces)"
    );
    drop((h, prog));
    done(lab, vec![objs], ids);
}

#[test]
fn clsact_slot_held_by_an_ingress_qdisc_is_refused_and_kept() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    let objs = Pinned::load("tc_count", Some("classifier"));
    let ids = pins::ids_of(&objs);
    let prog = objs.prog("count_alt");
    let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());
    let ifindex = h.ifindex(&lab.veth_a).unwrap();
    let dev = &lab.veth_a;

    // No clsact yet: a filter has nowhere to go, and the kernel says so.
    let e = h
        .tc_attach(
            ifindex,
            hook(1, 1),
            prog.as_fd(),
            "x",
            TcAttachFlags::default(),
        )
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL));
    assert_eq!(
        e.to_string(),
        format!("tc filter add dev {dev} ingress: Invalid argument (kernel: \"Parent Qdisc doesn't exists\")")
    );
    let e = h.delete_clsact(ifindex).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "tc qdisc del dev {dev} clsact: No such file or directory (kernel: \"Cannot find \
             specified qdisc on specified device\")"
        )
    );

    // An `ingress` qdisc in the slot: refused, with the way out, and left in place.
    rbpf_tests::run(
        "tc",
        &["-n", &lab.ns_a, "qdisc", "add", "dev", dev, "ingress"],
    );
    let e = h.ensure_clsact(ifindex).unwrap_err();
    assert!(
        matches!(&e, NetlinkError::QdiscSlotTaken { kind, .. } if kind == "ingress"),
        "{e:?}"
    );
    assert_eq!(e.ext_ack(), Some("Exclusivity flag on, cannot modify"));
    assert_eq!(
        e.to_string(),
        format!(
            "tc qdisc add dev {dev} clsact: File exists (kernel: \"Exclusivity flag on, cannot \
             modify\"): the slot is held by an `ingress` qdisc, not clsact; remove it first (tc \
             qdisc del dev {dev} ingress)"
        )
    );
    // delete_clsact never deletes someone's ingress qdisc.
    let e = h.delete_clsact(ifindex).unwrap_err();
    // The kernel's wording changed between 6.1/6.12 and 6.18.
    assert!(
        matches!(
            e.ext_ack(),
            Some("Invalid qdisc name: must match existing qdisc") | Some("Invalid qdisc name")
        ),
        "{e}"
    );
    assert_eq!(h.qdisc_kind(ifindex).unwrap().as_deref(), Some("ingress"));
    let json = rbpf_tests::run(
        "tc",
        &[
            "-n", &lab.ns_a, "-j", "qdisc", "show", "dev", dev, "ingress",
        ],
    );
    assert!(json.contains("\"kind\":\"ingress\""), "{json}");

    drop((h, prog));
    done(lab, vec![objs], ids);
}

#[test]
fn invalid_program_fds_are_explained() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    let tc = Pinned::load("tc_count", Some("classifier"));
    let xdp = Pinned::load("xdp_count", None);
    let mut ids = pins::ids_of(&tc);
    ids.extend(pins::ids_of(&xdp));
    let (tc_prog, xdp_prog) = (tc.prog("count_alt"), xdp.prog("xdp_count"));
    let null = std::fs::File::open("/dev/null").unwrap();
    let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());
    let ifindex = h.ifindex(&lab.veth_a).unwrap();
    h.ensure_clsact(ifindex).unwrap();
    let dev = &lab.veth_a;
    let none = TcAttachFlags::default();
    let (nfd, tfd, xfd) = (null.as_raw_fd(), tc_prog.as_raw_fd(), xdp_prog.as_raw_fd());

    // The kernel answers a bare EINVAL; we say what the fd is.
    let e = h
        .tc_attach(ifindex, hook(1, 1), null.as_fd(), "x", none)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("tc filter add dev {dev} ingress: Invalid argument; fd {nfd} is not a BPF program")
    );
    let e = h
        .tc_attach(ifindex, hook(1, 1), xdp_prog.as_fd(), "x", none)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "tc filter add dev {dev} ingress: Invalid argument; fd {xfd} is a BPF program of \
             type xdp, not sched_cls (tc)"
        )
    );
    let e = h
        .xdp_attach(ifindex, null.as_fd(), XdpMode::Native, XdpFlags::default())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("ip link set dev {dev} xdpdrv fd {nfd}: Invalid argument; fd {nfd} is not a BPF program")
    );
    let e = h
        .xdp_attach(ifindex, tc_prog.as_fd(), XdpMode::Skb, XdpFlags::default())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "ip link set dev {dev} xdpgeneric fd {tfd}: Invalid argument; fd {tfd} is a BPF \
             program of type sched_cls (tc), not xdp"
        )
    );
    // veth cannot offload: a valid program in hardware mode is still refused.
    let e = h
        .xdp_attach(ifindex, xdp_prog.as_fd(), XdpMode::Hw, XdpFlags::default())
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL));
    assert!(
        e.to_string()
            .contains("hardware mode needs a NIC that offloads XDP"),
        "{e}"
    );
    let e = h
        .tc_attach(ifindex, hook(1, 1), tc_prog.as_fd(), "a\0b", none)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("tc filter add dev {dev} ingress: filter name \"a\\0b\" contains a NUL byte")
    );
    // Nothing got attached by any of that.
    assert_eq!(h.tc_list(ifindex).unwrap(), vec![]);
    assert_eq!(h.xdp_query(ifindex).unwrap(), vec![]);

    drop((h, tc_prog, xdp_prog));
    done(lab, vec![tc, xdp], ids);
}

#[test]
fn conflicting_priority_and_handle_are_refused() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    let objs = Pinned::load("tc_count", Some("classifier"));
    let ids = pins::ids_of(&objs);
    let (first, second) = (objs.prog("count_ingress"), objs.prog("count_alt"));
    let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());
    let ifindex = h.ifindex(&lab.veth_a).unwrap();
    h.ensure_clsact(ifindex).unwrap();
    let dev = &lab.veth_a;
    let none = TcAttachFlags::default();
    let kept = h
        .tc_attach(ifindex, hook(1, 1), first.as_fd(), "kept", none)
        .unwrap();

    // Same priority and handle without replace.
    let e = h
        .tc_attach(ifindex, hook(1, 1), second.as_fd(), "intruder", none)
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EEXIST));
    assert_eq!(
        e.to_string(),
        format!("tc filter add dev {dev} ingress: File exists (kernel: \"Filter already exists\")")
    );
    // A priority tc already uses for another protocol (ip, not all).
    let pin = objs.prog_path("count_alt");
    tc_in(
        &lab.ns_a,
        &[
            "filter",
            "add",
            "dev",
            dev,
            "ingress",
            "pref",
            "5",
            "protocol",
            "ip",
            "bpf",
            "da",
            "object-pinned",
            pin.to_str().unwrap(),
        ],
    );
    let e = h
        .tc_attach(ifindex, hook(5, 0), second.as_fd(), "intruder", none)
        .unwrap_err();
    // The kernel's wording changed between 6.1/6.12 and 6.18.
    let said = e.to_string();
    assert!(
        [
            "Protocol mismatch for filter with specified priority",
            "Filter with specified priority/protocol not found",
        ]
        .iter()
        .any(|k| said
            == format!("tc filter add dev {dev} ingress: Invalid argument (kernel: \"{k}\")")),
        "{said}"
    );
    // Deleting what is not there, and the priority 0 that would flush everything.
    let e = h.tc_detach(ifindex, ING, 1, 2).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "tc filter del dev {dev} ingress pref 1 handle 0x2 bpf: No such file or directory \
             (kernel: \"Specified filter handle not found\")"
        )
    );
    let e = h.tc_detach(ifindex, ING, 3, 1).unwrap_err();
    assert_eq!(
        e.ext_ack(),
        Some("Filter with specified priority/protocol not found")
    );
    let e = h.tc_detach(ifindex, ING, 0, 1).unwrap_err();
    assert!(matches!(e, NetlinkError::InvalidArgument { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "tc filter del dev {dev} ingress pref 0 handle 0x1 bpf: priority 0 would delete \
             every filter on the hook; name the priority"
        )
    );
    // Our filter is untouched; tc's is listed with its protocol (ETH_P_IP).
    let list = h.tc_list(ifindex).unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.contains(&kept));
    let theirs = list.iter().find(|f| f.priority == 5).unwrap();
    assert_eq!(
        (theirs.protocol, theirs.prog_id),
        (0x0800, objs.prog_id("count_alt"))
    );
    // Removing all bpf filters takes each one's own protocol into account.
    assert_eq!(h.tc_detach_all(ifindex, Some(ING)).unwrap().len(), 2);
    assert_eq!(h.tc_list(ifindex).unwrap(), vec![]);

    drop((h, first, second));
    done(lab, vec![objs], ids);
}

/// What a test made: namespaces, program ids, pin directories.
type Traces = (Vec<String>, Vec<u32>, Vec<std::path::PathBuf>);

#[test]
fn a_failing_test_leaves_nothing_behind() {
    rbpf_tests::require_priv!();
    let seen: Mutex<Option<Traces>> = Mutex::new(None);
    // A test body that attaches tc and XDP programs, then fails half-way.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::new();
        let tc = Pinned::load("tc_count", Some("classifier"));
        let xdp = Pinned::load("xdp_count", None);
        let mut ids = pins::ids_of(&tc);
        ids.extend(pins::ids_of(&xdp));
        *seen.lock().unwrap() = Some((
            vec![lab.ns_a.clone(), lab.ns_b.clone()],
            ids,
            vec![
                tc.dir.clone(),
                tc.maps_dir.clone(),
                xdp.dir.clone(),
                xdp.maps_dir.clone(),
            ],
        ));
        let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());
        let ifindex = h.ifindex(&lab.veth_a).unwrap();
        h.ensure_clsact(ifindex).unwrap();
        let prog = tc.prog("count_ingress");
        h.tc_attach(
            ifindex,
            hook(1, 1),
            prog.as_fd(),
            "left",
            TcAttachFlags::default(),
        )
        .unwrap();
        let xprog = xdp.prog("xdp_count");
        h.xdp_attach(ifindex, xprog.as_fd(), XdpMode::Native, XdpFlags::default())
            .unwrap();
        assert_eq!(h.tc_list(ifindex).unwrap().len(), 1);
        panic!("failing on purpose with a filter and an XDP program attached");
    }));
    // It must have failed where it meant to, with everything attached: a panic of an
    // earlier step would leave nothing behind trivially.
    let payload = outcome.expect_err("the inner test was meant to fail");
    let why = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert_eq!(
        why, "failing on purpose with a filter and an XDP program attached",
        "the inner test failed early"
    );
    let (names, ids, dirs) = seen
        .lock()
        .unwrap()
        .take()
        .expect("the inner test got going");
    assert_eq!(
        ids.len(),
        4,
        "three tc programs and one XDP program were loaded"
    );
    pins::assert_left_nothing(&names, &ids, &dirs);
}
