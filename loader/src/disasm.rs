//! A disassembler for BPF instructions, in the syntax of the kernel verifier's log and of
//! `bpftool prog dump xlated` (the kernel's `kernel/bpf/disasm.c` conventions):
//! `r1 = *(u32 *)(r1 +0)`, `if r1 > 0x5 goto pc+3`, `call bpf_map_lookup_elem#1`,
//! `call pc+5`, `r1 = map[fd:3]`, `exit`.
//!
//! Written from the instruction-set description (Documentation/bpf/standardization) and the
//! output format of the verifier log. It never panics: whatever the bytes, each slot gets a
//! line; opcodes the kernel does not define print as `(bad opcode 0x..)`.
//!
//! Differences from the kernel on purpose: no `(code)` prefix (callers add one if they
//! want), ld_imm64 with a pseudo source prints the fd/index that is in the instruction
//! (`map[fd:N]`, `map[idx:N]`) where bpftool prints a map id, and a relocation symbol given by
//! the caller replaces the immediate of an ld_imm64 (`r1 = map[counts]`, `r1 = .bss + 0x8`)
//! or annotates a BPF-to-BPF call (`call pc-1 <global_mix>`).

use crate::insn::Insn;
use std::fmt::Write as _;

// Classes, sizes, modes, ops and sources from include/uapi/linux/bpf.h and bpf_common.h.
const BPF_LD: u8 = 0x00;
const BPF_LDX: u8 = 0x01;
const BPF_ST: u8 = 0x02;
const BPF_STX: u8 = 0x03;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_JMP32: u8 = 0x06;
const BPF_ALU64: u8 = 0x07;

const BPF_DW: u8 = 0x18;

const BPF_IMM: u8 = 0x00;
const BPF_ABS: u8 = 0x20;
const BPF_IND: u8 = 0x40;
const BPF_MEM: u8 = 0x60;
const BPF_MEMSX: u8 = 0x80;
const BPF_ATOMIC: u8 = 0xc0;
/// `BPF_NOSPEC`: a mode of class ST the kernel uses internally (no UAPI name).
const BPF_NOSPEC: u8 = 0xc0;

const BPF_X: u8 = 0x08;

const BPF_DIV: u8 = 0x30;
const BPF_NEG: u8 = 0x80;
const BPF_MOD: u8 = 0x90;
const BPF_MOV: u8 = 0xb0;
const BPF_END: u8 = 0xd0;
/// Source bit of `BPF_END` in class ALU: big-endian target.
const BPF_TO_BE: u8 = 0x08;

const BPF_JA: u8 = 0x00;
const BPF_CALL: u8 = 0x80;
const BPF_EXIT: u8 = 0x90;
const BPF_JCOND: u8 = 0xe0;
/// `BPF_MAY_GOTO`: src_reg of `BPF_JMP | BPF_JCOND`.
const BPF_MAY_GOTO: u8 = 0;

// Atomic operations (the imm of `BPF_STX | BPF_ATOMIC`).
const BPF_FETCH: i32 = 0x01;
const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;
const BPF_LOAD_ACQ: i32 = 0x100;
const BPF_STORE_REL: i32 = 0x110;

// ALU64 MOV with BPF_X: offsets that turn it into something else.
const BPF_ADDR_SPACE_CAST: i16 = 1;
const BPF_ADDR_PERCPU: i16 = -1;

// src_reg markers (include/uapi/linux/bpf.h).
const PSEUDO_MAP_FD: u8 = 1;
const PSEUDO_MAP_VALUE: u8 = 2;
const PSEUDO_FUNC: u8 = 4;
const PSEUDO_MAP_IDX: u8 = 5;
const PSEUDO_MAP_IDX_VALUE: u8 = 6;
const PSEUDO_CALL: u8 = 1;
const PSEUDO_KFUNC_CALL: u8 = 2;

/// The kernel's helper names by `enum bpf_func_id` (`__BPF_FUNC_MAPPER`), prefixed `bpf_`
/// as the verifier prints them.
const HELPERS: [&str; 212] = [
    "bpf_unspec",                         // 0
    "bpf_map_lookup_elem",                // 1
    "bpf_map_update_elem",                // 2
    "bpf_map_delete_elem",                // 3
    "bpf_probe_read",                     // 4
    "bpf_ktime_get_ns",                   // 5
    "bpf_trace_printk",                   // 6
    "bpf_get_prandom_u32",                // 7
    "bpf_get_smp_processor_id",           // 8
    "bpf_skb_store_bytes",                // 9
    "bpf_l3_csum_replace",                // 10
    "bpf_l4_csum_replace",                // 11
    "bpf_tail_call",                      // 12
    "bpf_clone_redirect",                 // 13
    "bpf_get_current_pid_tgid",           // 14
    "bpf_get_current_uid_gid",            // 15
    "bpf_get_current_comm",               // 16
    "bpf_get_cgroup_classid",             // 17
    "bpf_skb_vlan_push",                  // 18
    "bpf_skb_vlan_pop",                   // 19
    "bpf_skb_get_tunnel_key",             // 20
    "bpf_skb_set_tunnel_key",             // 21
    "bpf_perf_event_read",                // 22
    "bpf_redirect",                       // 23
    "bpf_get_route_realm",                // 24
    "bpf_perf_event_output",              // 25
    "bpf_skb_load_bytes",                 // 26
    "bpf_get_stackid",                    // 27
    "bpf_csum_diff",                      // 28
    "bpf_skb_get_tunnel_opt",             // 29
    "bpf_skb_set_tunnel_opt",             // 30
    "bpf_skb_change_proto",               // 31
    "bpf_skb_change_type",                // 32
    "bpf_skb_under_cgroup",               // 33
    "bpf_get_hash_recalc",                // 34
    "bpf_get_current_task",               // 35
    "bpf_probe_write_user",               // 36
    "bpf_current_task_under_cgroup",      // 37
    "bpf_skb_change_tail",                // 38
    "bpf_skb_pull_data",                  // 39
    "bpf_csum_update",                    // 40
    "bpf_set_hash_invalid",               // 41
    "bpf_get_numa_node_id",               // 42
    "bpf_skb_change_head",                // 43
    "bpf_xdp_adjust_head",                // 44
    "bpf_probe_read_str",                 // 45
    "bpf_get_socket_cookie",              // 46
    "bpf_get_socket_uid",                 // 47
    "bpf_set_hash",                       // 48
    "bpf_setsockopt",                     // 49
    "bpf_skb_adjust_room",                // 50
    "bpf_redirect_map",                   // 51
    "bpf_sk_redirect_map",                // 52
    "bpf_sock_map_update",                // 53
    "bpf_xdp_adjust_meta",                // 54
    "bpf_perf_event_read_value",          // 55
    "bpf_perf_prog_read_value",           // 56
    "bpf_getsockopt",                     // 57
    "bpf_override_return",                // 58
    "bpf_sock_ops_cb_flags_set",          // 59
    "bpf_msg_redirect_map",               // 60
    "bpf_msg_apply_bytes",                // 61
    "bpf_msg_cork_bytes",                 // 62
    "bpf_msg_pull_data",                  // 63
    "bpf_bind",                           // 64
    "bpf_xdp_adjust_tail",                // 65
    "bpf_skb_get_xfrm_state",             // 66
    "bpf_get_stack",                      // 67
    "bpf_skb_load_bytes_relative",        // 68
    "bpf_fib_lookup",                     // 69
    "bpf_sock_hash_update",               // 70
    "bpf_msg_redirect_hash",              // 71
    "bpf_sk_redirect_hash",               // 72
    "bpf_lwt_push_encap",                 // 73
    "bpf_lwt_seg6_store_bytes",           // 74
    "bpf_lwt_seg6_adjust_srh",            // 75
    "bpf_lwt_seg6_action",                // 76
    "bpf_rc_repeat",                      // 77
    "bpf_rc_keydown",                     // 78
    "bpf_skb_cgroup_id",                  // 79
    "bpf_get_current_cgroup_id",          // 80
    "bpf_get_local_storage",              // 81
    "bpf_sk_select_reuseport",            // 82
    "bpf_skb_ancestor_cgroup_id",         // 83
    "bpf_sk_lookup_tcp",                  // 84
    "bpf_sk_lookup_udp",                  // 85
    "bpf_sk_release",                     // 86
    "bpf_map_push_elem",                  // 87
    "bpf_map_pop_elem",                   // 88
    "bpf_map_peek_elem",                  // 89
    "bpf_msg_push_data",                  // 90
    "bpf_msg_pop_data",                   // 91
    "bpf_rc_pointer_rel",                 // 92
    "bpf_spin_lock",                      // 93
    "bpf_spin_unlock",                    // 94
    "bpf_sk_fullsock",                    // 95
    "bpf_tcp_sock",                       // 96
    "bpf_skb_ecn_set_ce",                 // 97
    "bpf_get_listener_sock",              // 98
    "bpf_skc_lookup_tcp",                 // 99
    "bpf_tcp_check_syncookie",            // 100
    "bpf_sysctl_get_name",                // 101
    "bpf_sysctl_get_current_value",       // 102
    "bpf_sysctl_get_new_value",           // 103
    "bpf_sysctl_set_new_value",           // 104
    "bpf_strtol",                         // 105
    "bpf_strtoul",                        // 106
    "bpf_sk_storage_get",                 // 107
    "bpf_sk_storage_delete",              // 108
    "bpf_send_signal",                    // 109
    "bpf_tcp_gen_syncookie",              // 110
    "bpf_skb_output",                     // 111
    "bpf_probe_read_user",                // 112
    "bpf_probe_read_kernel",              // 113
    "bpf_probe_read_user_str",            // 114
    "bpf_probe_read_kernel_str",          // 115
    "bpf_tcp_send_ack",                   // 116
    "bpf_send_signal_thread",             // 117
    "bpf_jiffies64",                      // 118
    "bpf_read_branch_records",            // 119
    "bpf_get_ns_current_pid_tgid",        // 120
    "bpf_xdp_output",                     // 121
    "bpf_get_netns_cookie",               // 122
    "bpf_get_current_ancestor_cgroup_id", // 123
    "bpf_sk_assign",                      // 124
    "bpf_ktime_get_boot_ns",              // 125
    "bpf_seq_printf",                     // 126
    "bpf_seq_write",                      // 127
    "bpf_sk_cgroup_id",                   // 128
    "bpf_sk_ancestor_cgroup_id",          // 129
    "bpf_ringbuf_output",                 // 130
    "bpf_ringbuf_reserve",                // 131
    "bpf_ringbuf_submit",                 // 132
    "bpf_ringbuf_discard",                // 133
    "bpf_ringbuf_query",                  // 134
    "bpf_csum_level",                     // 135
    "bpf_skc_to_tcp6_sock",               // 136
    "bpf_skc_to_tcp_sock",                // 137
    "bpf_skc_to_tcp_timewait_sock",       // 138
    "bpf_skc_to_tcp_request_sock",        // 139
    "bpf_skc_to_udp6_sock",               // 140
    "bpf_get_task_stack",                 // 141
    "bpf_load_hdr_opt",                   // 142
    "bpf_store_hdr_opt",                  // 143
    "bpf_reserve_hdr_opt",                // 144
    "bpf_inode_storage_get",              // 145
    "bpf_inode_storage_delete",           // 146
    "bpf_d_path",                         // 147
    "bpf_copy_from_user",                 // 148
    "bpf_snprintf_btf",                   // 149
    "bpf_seq_printf_btf",                 // 150
    "bpf_skb_cgroup_classid",             // 151
    "bpf_redirect_neigh",                 // 152
    "bpf_per_cpu_ptr",                    // 153
    "bpf_this_cpu_ptr",                   // 154
    "bpf_redirect_peer",                  // 155
    "bpf_task_storage_get",               // 156
    "bpf_task_storage_delete",            // 157
    "bpf_get_current_task_btf",           // 158
    "bpf_bprm_opts_set",                  // 159
    "bpf_ktime_get_coarse_ns",            // 160
    "bpf_ima_inode_hash",                 // 161
    "bpf_sock_from_file",                 // 162
    "bpf_check_mtu",                      // 163
    "bpf_for_each_map_elem",              // 164
    "bpf_snprintf",                       // 165
    "bpf_sys_bpf",                        // 166
    "bpf_btf_find_by_name_kind",          // 167
    "bpf_sys_close",                      // 168
    "bpf_timer_init",                     // 169
    "bpf_timer_set_callback",             // 170
    "bpf_timer_start",                    // 171
    "bpf_timer_cancel",                   // 172
    "bpf_get_func_ip",                    // 173
    "bpf_get_attach_cookie",              // 174
    "bpf_task_pt_regs",                   // 175
    "bpf_get_branch_snapshot",            // 176
    "bpf_trace_vprintk",                  // 177
    "bpf_skc_to_unix_sock",               // 178
    "bpf_kallsyms_lookup_name",           // 179
    "bpf_find_vma",                       // 180
    "bpf_loop",                           // 181
    "bpf_strncmp",                        // 182
    "bpf_get_func_arg",                   // 183
    "bpf_get_func_ret",                   // 184
    "bpf_get_func_arg_cnt",               // 185
    "bpf_get_retval",                     // 186
    "bpf_set_retval",                     // 187
    "bpf_xdp_get_buff_len",               // 188
    "bpf_xdp_load_bytes",                 // 189
    "bpf_xdp_store_bytes",                // 190
    "bpf_copy_from_user_task",            // 191
    "bpf_skb_set_tstamp",                 // 192
    "bpf_ima_file_hash",                  // 193
    "bpf_kptr_xchg",                      // 194
    "bpf_map_lookup_percpu_elem",         // 195
    "bpf_skc_to_mptcp_sock",              // 196
    "bpf_dynptr_from_mem",                // 197
    "bpf_ringbuf_reserve_dynptr",         // 198
    "bpf_ringbuf_submit_dynptr",          // 199
    "bpf_ringbuf_discard_dynptr",         // 200
    "bpf_dynptr_read",                    // 201
    "bpf_dynptr_write",                   // 202
    "bpf_dynptr_data",                    // 203
    "bpf_tcp_raw_gen_syncookie_ipv4",     // 204
    "bpf_tcp_raw_gen_syncookie_ipv6",     // 205
    "bpf_tcp_raw_check_syncookie_ipv4",   // 206
    "bpf_tcp_raw_check_syncookie_ipv6",   // 207
    "bpf_ktime_get_tai_ns",               // 208
    "bpf_user_ringbuf_drain",             // 209
    "bpf_cgrp_storage_get",               // 210
    "bpf_cgrp_storage_delete",            // 211
];

/// The name of helper `id` (`bpf_map_lookup_elem` for 1), if it is one we know.
pub fn helper_name(id: i32) -> Option<&'static str> {
    usize::try_from(id)
        .ok()
        .and_then(|i| HELPERS.get(i))
        .copied()
}

/// One instruction at `idx` as text, and the number of slots it takes (2 for ld_imm64).
/// An index past the end gives a line saying so and 1 slot.
pub fn disasm_insn(insns: &[Insn], idx: usize) -> (String, usize) {
    disasm_insn_sym(insns, idx, None)
}

/// Like [`disasm_insn`], with the symbol of a relocation at `idx` (a map, a section for
/// global data, a function), printed in place of the immediate of an ld_imm64 or after a
/// BPF-to-BPF call.
pub fn disasm_insn_sym(insns: &[Insn], idx: usize, sym: Option<&str>) -> (String, usize) {
    let Some(&insn) = insns.get(idx) else {
        return (format!("(no instruction at {idx})"), 1);
    };
    let class = insn.code & 0x07;
    match class {
        BPF_ALU | BPF_ALU64 => (alu(insn), 1),
        BPF_LDX => (ldx(insn), 1),
        BPF_ST => (st(insn), 1),
        BPF_STX => (stx(insn), 1),
        BPF_LD => ld(insns, idx, insn, sym),
        BPF_JMP | BPF_JMP32 => (jmp(insn, sym), 1),
        _ => (bad(insn.code), 1), // not reached: the class is 3 bits
    }
}

/// The whole stream: (index, text) per instruction; ld_imm64 takes two indexes, one line.
pub fn disasm(insns: &[Insn]) -> Vec<(usize, String)> {
    disasm_with(insns, |_| None)
}

/// The whole stream, asking `sym` for the relocation symbol (if any) at each index.
pub fn disasm_with(insns: &[Insn], sym: impl Fn(usize) -> Option<String>) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut idx = 0;
    while idx < insns.len() {
        let s = sym(idx);
        let (text, used) = disasm_insn_sym(insns, idx, s.as_deref());
        out.push((idx, text));
        idx += used.max(1);
    }
    out
}

fn bad(code: u8) -> String {
    format!("(bad opcode 0x{code:02x})")
}

/// `u8`/`u16`/`u32`/`u64` by the size bits.
fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        0x00 => "u32",
        0x08 => "u16",
        0x10 => "u8",
        _ => "u64",
    }
}

/// A memory operand `(rN +off)`, the kernel's `%+d`.
fn mem(reg: u8, off: i16) -> String {
    format!("(r{reg} {off:+})")
}

fn alu(i: Insn) -> String {
    let r = if i.code & 0x07 == BPF_ALU { 'w' } else { 'r' };
    let op = i.code & 0xf0;
    let x = i.code & BPF_X != 0;
    let (d, s) = (i.dst, i.src);
    match op {
        BPF_END => {
            if i.code & 0x07 == BPF_ALU64 {
                // BPF_ALU64 | BPF_END: unconditional byte swap (cpu v4); only the K form exists.
                if x {
                    return bad(i.code);
                }
                return format!("r{d} = bswap{} r{d}", i.imm);
            }
            let end = if i.code & BPF_TO_BE != 0 { "be" } else { "le" };
            format!("r{d} = {end}{} r{d}", i.imm)
        }
        BPF_NEG if x => bad(i.code),
        BPF_NEG => format!("{r}{d} = -{r}{d}"),
        0xe0 | 0xf0 => bad(i.code),
        BPF_MOV if x && r == 'r' && i.off == BPF_ADDR_SPACE_CAST => format!(
            "r{d} = addr_space_cast(r{s}, {}, {})",
            (i.imm as u32) >> 16,
            i.imm as u32 & 0xffff
        ),
        BPF_MOV if x && r == 'r' && i.off == BPF_ADDR_PERCPU => {
            format!("r{d} = &(void __percpu *)(r{s})")
        }
        _ => {
            let signed = (op == BPF_DIV || op == BPF_MOD) && i.off == 1;
            let sym = if signed {
                if op == BPF_DIV {
                    "s/="
                } else {
                    "s%="
                }
            } else {
                alu_op(op)
            };
            if x {
                let sx = match (op, i.off) {
                    (BPF_MOV, 8) => "(s8)",
                    (BPF_MOV, 16) => "(s16)",
                    (BPF_MOV, 32) => "(s32)",
                    _ => "",
                };
                format!("{r}{d} {sym} {sx}{r}{s}")
            } else {
                format!("{r}{d} {sym} {}", i.imm)
            }
        }
    }
}

/// The operator of an ALU op (op already checked to be one of the 14 defined ones).
fn alu_op(op: u8) -> &'static str {
    match op {
        0x00 => "+=",
        0x10 => "-=",
        0x20 => "*=",
        0x30 => "/=",
        0x40 => "|=",
        0x50 => "&=",
        0x60 => "<<=",
        0x70 => ">>=",
        0x90 => "%=",
        0xa0 => "^=",
        0xb0 => "=",
        0xc0 => "s>>=",
        _ => "?=",
    }
}

fn ldx(i: Insn) -> String {
    let ty = match i.code & 0xe0 {
        BPF_MEM => size_name(i.code),
        BPF_MEMSX => match i.code & 0x18 {
            0x00 => "s32",
            0x08 => "s16",
            0x10 => "s8",
            _ => return bad(i.code),
        },
        _ => return bad(i.code),
    };
    format!("r{} = *({ty} *){}", i.dst, mem(i.src, i.off))
}

fn st(i: Insn) -> String {
    match i.code & 0xe0 {
        BPF_MEM => format!(
            "*({} *){} = {}",
            size_name(i.code),
            mem(i.dst, i.off),
            i.imm
        ),
        BPF_NOSPEC => "nospec".to_string(),
        _ => bad(i.code),
    }
}

fn stx(i: Insn) -> String {
    let ty = size_name(i.code);
    let at = mem(i.dst, i.off);
    let (d, s) = (i.dst, i.src);
    match i.code & 0xe0 {
        BPF_MEM => format!("*({ty} *){at} = r{s}"),
        BPF_ATOMIC => {
            let bits = if i.code & 0x18 == BPF_DW { "64" } else { "" };
            let atomic_alu = |op: i32| match op & 0xf0 {
                0x00 => Some(("+=", "add")),
                0x40 => Some(("|=", "or")),
                0x50 => Some(("&=", "and")),
                0xa0 => Some(("^=", "xor")),
                _ => None,
            };
            match i.imm {
                BPF_XCHG => format!("r{s} = atomic{bits}_xchg(({ty} *){at}, r{s})"),
                BPF_CMPXCHG => format!("r0 = atomic{bits}_cmpxchg(({ty} *){at}, r0, r{s})"),
                BPF_LOAD_ACQ => format!("r{d} = load_acquire(({ty} *){})", mem(s, i.off)),
                BPF_STORE_REL => format!("store_release(({ty} *){at}, r{s})"),
                op if op & !0xf1 == 0 => match (atomic_alu(op), op & BPF_FETCH != 0) {
                    (Some((sym, _)), false) => format!("lock *({ty} *){at} {sym} r{s}"),
                    (Some((_, name)), true) => {
                        format!("r{s} = atomic{bits}_fetch_{name}(({ty} *){at}, r{s})")
                    }
                    (None, _) => format!("(bad atomic op 0x{:x})", i.imm),
                },
                _ => format!("(bad atomic op 0x{:x})", i.imm),
            }
        }
        _ => bad(i.code),
    }
}

fn ld(insns: &[Insn], idx: usize, i: Insn, sym: Option<&str>) -> (String, usize) {
    let sized = i.code & 0x18 != BPF_DW;
    match i.code & 0xe0 {
        BPF_ABS if sized => (format!("r0 = *({} *)skb[{}]", size_name(i.code), i.imm), 1),
        BPF_IND if sized => (
            format!("r0 = *({} *)skb[r{} + {}]", size_name(i.code), i.src, i.imm),
            1,
        ),
        BPF_IMM if !sized => {
            let Some(next) = idx.checked_add(1).and_then(|n| insns.get(n)) else {
                return ("(bad ld_imm64: its second half is missing)".to_string(), 1);
            };
            (ld_imm64(i, *next, sym), 2)
        }
        _ => (bad(i.code), 1),
    }
}

fn ld_imm64(i: Insn, next: Insn, sym: Option<&str>) -> String {
    let d = i.dst;
    let imm64 = (u64::from(next.imm as u32) << 32) | u64::from(i.imm as u32);
    let off = next.imm as u32;
    match (i.src, sym) {
        (0, Some(s)) if imm64 == 0 => format!("r{d} = {s}"),
        (0, Some(s)) => format!("r{d} = {s} + 0x{imm64:x}"),
        (PSEUDO_MAP_FD, Some(s)) | (PSEUDO_MAP_IDX, Some(s)) => format!("r{d} = map[{s}]"),
        (PSEUDO_MAP_VALUE, Some(s)) | (PSEUDO_MAP_IDX_VALUE, Some(s)) => {
            format!("r{d} = map[{s}][0]+{off}")
        }
        (PSEUDO_FUNC, Some(s)) => format!("r{d} = subprog[{s}]"),
        (_, Some(s)) => format!("r{d} = {s}"),
        (PSEUDO_MAP_FD, None) => format!("r{d} = map[fd:{}]", i.imm),
        (PSEUDO_MAP_IDX, None) => format!("r{d} = map[idx:{}]", i.imm),
        (PSEUDO_MAP_VALUE, None) => format!("r{d} = map[fd:{}][0]+{off}", i.imm),
        (PSEUDO_MAP_IDX_VALUE, None) => format!("r{d} = map[idx:{}][0]+{off}", i.imm),
        (PSEUDO_FUNC, None) => format!("r{d} = subprog[{:+}]", i.imm),
        (_, None) => format!("r{d} = 0x{imm64:x}"),
    }
}

/// The comparison of a conditional jump (op known not to be JA/CALL/EXIT/JCOND).
fn jmp_op(op: u8) -> Option<&'static str> {
    Some(match op {
        0x10 => "==",
        0x20 => ">",
        0x30 => ">=",
        0x40 => "&",
        0x50 => "!=",
        0x60 => "s>",
        0x70 => "s>=",
        0xa0 => "<",
        0xb0 => "<=",
        0xc0 => "s<",
        0xd0 => "s<=",
        _ => return None,
    })
}

fn jmp(i: Insn, sym: Option<&str>) -> String {
    let jmp32 = i.code & 0x07 == BPF_JMP32;
    let r = if jmp32 { 'w' } else { 'r' };
    let op = i.code & 0xf0;
    let x = i.code & BPF_X != 0;
    match (op, jmp32, x) {
        (BPF_JA, false, false) => format!("goto pc{:+}", i.off),
        (BPF_JA, true, false) => format!("gotol pc{:+}", i.imm),
        (BPF_JCOND, false, false) if i.src == BPF_MAY_GOTO => format!("may_goto pc{:+}", i.off),
        (BPF_EXIT, false, false) => "exit".to_string(),
        (BPF_CALL, false, false) => call(i, sym),
        // `callx`: an indirect call through a register (LLVM knows it; the kernel does not).
        (BPF_CALL, false, true) => format!("callx r{}", i.dst),
        _ => match jmp_op(op) {
            Some(cmp) if x => format!("if {r}{} {cmp} {r}{} goto pc{:+}", i.dst, i.src, i.off),
            Some(cmp) => format!(
                "if {r}{} {cmp} 0x{:x} goto pc{:+}",
                i.dst, i.imm as u32, i.off
            ),
            None => bad(i.code),
        },
    }
}

fn call(i: Insn, sym: Option<&str>) -> String {
    match i.src {
        PSEUDO_CALL => {
            let mut s = format!("call pc{:+}", i.imm);
            if let Some(name) = sym {
                let _ = write!(s, " <{name}>");
            }
            s
        }
        PSEUDO_KFUNC_CALL => format!("call {}#{}", sym.unwrap_or("kernel-function"), i.imm),
        0 => format!("call {}#{}", helper_name(i.imm).unwrap_or("unknown"), i.imm),
        _ => format!("call unknown#{}", i.imm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::decode;

    fn one(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> String {
        let (s, n) = disasm_insn(&[Insn::new(code, dst, src, off, imm)], 0);
        assert_eq!(n, 1, "{s}");
        s
    }

    #[test]
    fn alu64_and_alu32() {
        assert_eq!(one(0xb7, 0, 0, 0, 0), "r0 = 0");
        assert_eq!(one(0xbf, 6, 1, 0, 0), "r6 = r1");
        assert_eq!(one(0x07, 1, 0, 0, -8), "r1 += -8");
        assert_eq!(one(0x04, 1, 0, 0, 3), "w1 += 3");
        assert_eq!(one(0x1f, 1, 2, 0, 0), "r1 -= r2");
        assert_eq!(one(0x2c, 1, 2, 0, 0), "w1 *= w2");
        assert_eq!(one(0x37, 1, 0, 0, 4), "r1 /= 4");
        assert_eq!(one(0x47, 1, 0, 0, 16), "r1 |= 16");
        assert_eq!(one(0x5f, 1, 2, 0, 0), "r1 &= r2");
        assert_eq!(one(0x67, 1, 0, 0, 32), "r1 <<= 32");
        assert_eq!(one(0x77, 1, 0, 0, 32), "r1 >>= 32");
        assert_eq!(one(0x9f, 1, 2, 0, 0), "r1 %= r2");
        assert_eq!(one(0xa7, 1, 0, 0, -1), "r1 ^= -1");
        assert_eq!(one(0xc7, 1, 0, 0, 2), "r1 s>>= 2");
        assert_eq!(one(0xcc, 1, 2, 0, 0), "w1 s>>= w2");
        assert_eq!(one(0x87, 1, 0, 0, 0), "r1 = -r1");
        assert_eq!(one(0x84, 3, 0, 0, 0), "w3 = -w3");
    }

    #[test]
    fn signed_div_mod_and_sign_extending_moves() {
        assert_eq!(one(0x3f, 1, 2, 1, 0), "r1 s/= r2");
        assert_eq!(one(0x37, 1, 0, 1, 5), "r1 s/= 5");
        assert_eq!(one(0x9c, 1, 2, 1, 0), "w1 s%= w2");
        assert_eq!(one(0x97, 1, 0, 1, -3), "r1 s%= -3");
        assert_eq!(one(0xbf, 1, 2, 8, 0), "r1 = (s8)r2");
        assert_eq!(one(0xbf, 1, 2, 16, 0), "r1 = (s16)r2");
        assert_eq!(one(0xbf, 1, 2, 32, 0), "r1 = (s32)r2");
        assert_eq!(one(0xbc, 1, 2, 8, 0), "w1 = (s8)w2");
        assert_eq!(one(0xbf, 1, 2, 1, 1), "r1 = addr_space_cast(r2, 0, 1)");
        assert_eq!(one(0xbf, 1, 2, -1, 0), "r1 = &(void __percpu *)(r2)");
    }

    #[test]
    fn byte_swaps() {
        assert_eq!(one(0xdc, 1, 0, 0, 16), "r1 = be16 r1");
        assert_eq!(one(0xdc, 1, 0, 0, 64), "r1 = be64 r1");
        assert_eq!(one(0xd4, 1, 0, 0, 32), "r1 = le32 r1");
        assert_eq!(one(0xd7, 1, 0, 0, 16), "r1 = bswap16 r1");
        assert_eq!(one(0xdf, 1, 0, 0, 16), "(bad opcode 0xdf)");
    }

    #[test]
    fn loads_and_stores() {
        assert_eq!(one(0x61, 1, 1, 0, 0), "r1 = *(u32 *)(r1 +0)");
        assert_eq!(one(0x69, 1, 1, 12, 0), "r1 = *(u16 *)(r1 +12)");
        assert_eq!(one(0x71, 2, 3, 1, 0), "r2 = *(u8 *)(r3 +1)");
        assert_eq!(one(0x79, 1, 10, -8, 0), "r1 = *(u64 *)(r10 -8)");
        assert_eq!(one(0x91, 1, 2, 1, 0), "r1 = *(s8 *)(r2 +1)");
        assert_eq!(one(0x89, 1, 2, 2, 0), "r1 = *(s16 *)(r2 +2)");
        assert_eq!(one(0x81, 1, 2, -4, 0), "r1 = *(s32 *)(r2 -4)");
        assert_eq!(one(0x99, 1, 2, 0, 0), "(bad opcode 0x99)");
        assert_eq!(one(0x7b, 10, 1, -8, 0), "*(u64 *)(r10 -8) = r1");
        assert_eq!(one(0x63, 10, 1, -4, 0), "*(u32 *)(r10 -4) = r1");
        assert_eq!(one(0x73, 1, 2, 0, 0), "*(u8 *)(r1 +0) = r2");
        assert_eq!(one(0x62, 10, 0, -4, -1), "*(u32 *)(r10 -4) = -1");
        assert_eq!(one(0x7a, 10, 0, -8, 0x1234), "*(u64 *)(r10 -8) = 4660");
        assert_eq!(one(0xc2, 0, 0, 0, 0), "nospec");
        assert_eq!(one(0x30, 0, 0, 0, 23), "r0 = *(u8 *)skb[23]");
        assert_eq!(one(0x48, 0, 1, 0, 4), "r0 = *(u16 *)skb[r1 + 4]");
        assert_eq!(one(0x38, 0, 0, 0, 0), "(bad opcode 0x38)");
    }

    #[test]
    fn atomics() {
        assert_eq!(one(0xdb, 1, 2, 8, 0x00), "lock *(u64 *)(r1 +8) += r2");
        assert_eq!(one(0xc3, 1, 2, 0, 0x50), "lock *(u32 *)(r1 +0) &= r2");
        assert_eq!(one(0xdb, 1, 2, 0, 0x40), "lock *(u64 *)(r1 +0) |= r2");
        assert_eq!(one(0xdb, 1, 2, 0, 0xa0), "lock *(u64 *)(r1 +0) ^= r2");
        assert_eq!(
            one(0xdb, 1, 2, 0, 0x01),
            "r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)"
        );
        assert_eq!(
            one(0xc3, 1, 2, 0, 0x51),
            "r2 = atomic_fetch_and((u32 *)(r1 +0), r2)"
        );
        assert_eq!(
            one(0xdb, 1, 2, 0, 0xe1),
            "r2 = atomic64_xchg((u64 *)(r1 +0), r2)"
        );
        assert_eq!(
            one(0xc3, 1, 2, -4, 0xf1),
            "r0 = atomic_cmpxchg((u32 *)(r1 -4), r0, r2)"
        );
        assert_eq!(
            one(0xd3, 0, 1, 0, 0x100),
            "r0 = load_acquire((u8 *)(r1 +0))"
        );
        assert_eq!(
            one(0xdb, 1, 2, 0, 0x110),
            "store_release((u64 *)(r1 +0), r2)"
        );
        assert_eq!(one(0xdb, 1, 2, 0, 0x10), "(bad atomic op 0x10)");
        assert_eq!(
            one(0xdb, 1, 2, 0, 0x7fff_0000),
            "(bad atomic op 0x7fff0000)"
        );
    }

    #[test]
    fn jumps() {
        assert_eq!(one(0x25, 1, 0, 3, 5), "if r1 > 0x5 goto pc+3");
        assert_eq!(one(0x15, 7, 0, 4, 0), "if r7 == 0x0 goto pc+4");
        assert_eq!(one(0x2d, 1, 2, -2, 0), "if r1 > r2 goto pc-2");
        assert_eq!(one(0xc5, 1, 0, 0, -1), "if r1 s< 0xffffffff goto pc+0");
        assert_eq!(one(0x45, 1, 0, 1, 8), "if r1 & 0x8 goto pc+1");
        assert_eq!(one(0x16, 1, 0, 3, 5), "if w1 == 0x5 goto pc+3");
        assert_eq!(one(0x5e, 1, 2, 1, 0), "if w1 != w2 goto pc+1");
        assert_eq!(one(0xd6, 1, 0, 1, -7), "if w1 s<= 0xfffffff9 goto pc+1");
        assert_eq!(one(0x05, 0, 0, 2, 0), "goto pc+2");
        assert_eq!(one(0x05, 0, 0, -1, 0), "goto pc-1");
        assert_eq!(one(0x06, 0, 0, 0, 70000), "gotol pc+70000");
        assert_eq!(one(0xe5, 0, 0, 5, 0), "may_goto pc+5");
        assert_eq!(one(0x95, 0, 0, 0, 0), "exit");
        assert_eq!(one(0x96, 0, 0, 0, 0), "(bad opcode 0x96)");
        assert_eq!(one(0xf5, 0, 0, 0, 0), "(bad opcode 0xf5)");
        assert_eq!(one(0x0d, 0, 0, 0, 0), "(bad opcode 0x0d)");
    }

    #[test]
    fn calls() {
        assert_eq!(one(0x85, 0, 0, 0, 1), "call bpf_map_lookup_elem#1");
        assert_eq!(one(0x85, 0, 0, 0, 12), "call bpf_tail_call#12");
        assert_eq!(one(0x85, 0, 0, 0, 131), "call bpf_ringbuf_reserve#131");
        assert_eq!(one(0x85, 0, 0, 0, 211), "call bpf_cgrp_storage_delete#211");
        assert_eq!(one(0x85, 0, 0, 0, 9999), "call unknown#9999");
        assert_eq!(one(0x85, 0, 0, 0, -5), "call unknown#-5");
        assert_eq!(one(0x85, 0, 1, 0, 5), "call pc+5");
        assert_eq!(one(0x85, 0, 1, 0, -1), "call pc-1");
        assert_eq!(one(0x85, 0, 2, 0, 1234), "call kernel-function#1234");
        assert_eq!(one(0x8d, 1, 0, 0, 0), "callx r1");
        let call = [Insn::new(0x85, 0, 1, 0, -1)];
        assert_eq!(
            disasm_insn_sym(&call, 0, Some("global_mix")).0,
            "call pc-1 <global_mix>"
        );
        let kfunc = [Insn::new(0x85, 0, 2, 0, 77)];
        assert_eq!(
            disasm_insn_sym(&kfunc, 0, Some("bpf_task_from_pid")).0,
            "call bpf_task_from_pid#77"
        );
    }

    #[test]
    fn ld_imm64_forms() {
        let two = |src: u8, lo: i32, hi: i32, sym: Option<&str>| {
            let v = [Insn::new(0x18, 1, src, 0, lo), Insn::new(0, 0, 0, 0, hi)];
            let (s, n) = disasm_insn_sym(&v, 0, sym);
            assert_eq!(n, 2, "{s}");
            s
        };
        assert_eq!(two(0, 0x2345_6789, 1, None), "r1 = 0x123456789");
        assert_eq!(two(0, -1, -1, None), "r1 = 0xffffffffffffffff");
        assert_eq!(two(0, 0, 0, Some("counts")), "r1 = counts");
        assert_eq!(two(0, 8, 0, Some(".bss")), "r1 = .bss + 0x8");
        assert_eq!(two(1, 5, 0, None), "r1 = map[fd:5]");
        assert_eq!(two(1, 5, 0, Some("counts")), "r1 = map[counts]");
        assert_eq!(two(2, 5, 16, None), "r1 = map[fd:5][0]+16");
        assert_eq!(two(2, 5, 16, Some(".bss")), "r1 = map[.bss][0]+16");
        assert_eq!(two(3, 77, 0, None), "r1 = 0x4d");
        assert_eq!(two(4, 12, 0, None), "r1 = subprog[+12]");
        assert_eq!(two(5, 2, 0, None), "r1 = map[idx:2]");
        assert_eq!(two(6, 2, 4, None), "r1 = map[idx:2][0]+4");
        // The second half missing: one line, one slot, no panic.
        let (s, n) = disasm_insn(&[Insn::new(0x18, 1, 0, 0, 0)], 0);
        assert_eq!(
            (s.as_str(), n),
            ("(bad ld_imm64: its second half is missing)", 1)
        );
    }

    #[test]
    fn whole_stream_and_indexes() {
        let v = [
            Insn::new(0xb7, 0, 0, 0, 2),
            Insn::new(0x18, 1, 0, 0, 0),
            Insn::new(0, 0, 0, 0, 0),
            Insn::new(0x95, 0, 0, 0, 0),
        ];
        let out = disasm(&v);
        let want = [(0, "r0 = 2"), (1, "r1 = 0x0"), (3, "exit")];
        assert_eq!(out.len(), want.len());
        for ((i, s), (wi, ws)) in out.iter().zip(want) {
            assert_eq!((*i, s.as_str()), (wi, ws));
        }
        let named = disasm_with(&v, |i| (i == 1).then(|| "counts".to_string()));
        assert_eq!(named[1].1, "r1 = counts");
        assert_eq!(disasm_insn(&v, 4), ("(no instruction at 4)".to_string(), 1));
        assert_eq!(disasm_insn(&[], usize::MAX).1, 1);
    }

    #[test]
    fn helper_table_edges() {
        assert_eq!(helper_name(0), Some("bpf_unspec"));
        assert_eq!(helper_name(1), Some("bpf_map_lookup_elem"));
        assert_eq!(helper_name(25), Some("bpf_perf_event_output"));
        assert_eq!(helper_name(130), Some("bpf_ringbuf_output"));
        assert_eq!(helper_name(182), Some("bpf_strncmp"));
        assert_eq!(helper_name(209), Some("bpf_user_ringbuf_drain"));
        assert_eq!(helper_name(212), None);
        assert_eq!(helper_name(-1), None);
    }

    /// The table against the system's uapi header, when there is one: an independent list.
    #[test]
    fn helper_table_matches_uapi_header() {
        let header = std::path::Path::new("/usr/include/linux/bpf.h");
        let why = "the helper table is compared with it (linux-libc-dev)";
        if !crate::test_env::have("helper_table_matches_uapi_header", header, why) {
            return;
        }
        let h = std::fs::read_to_string(header).expect("readable");
        let Some(start) = h.find("FN(unspec") else {
            panic!("/usr/include/linux/bpf.h has no __BPF_FUNC_MAPPER list");
        };
        // The macro ends at the first line without a continuation backslash.
        let body = &h[start.saturating_sub(1)..];
        let end = body
            .lines()
            .position(|l| !l.trim_end().ends_with('\\'))
            .unwrap_or(0);
        let list: Vec<&str> = body.lines().take(end + 1).collect();
        let list = list.join("\n");
        let mut n = 0;
        for (id, entry) in list.split("FN(").skip(1).enumerate() {
            let name: String = entry
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                break;
            }
            // Newer headers write FN(name, id, ...): check the id when it is there.
            if let Some(num) = entry[name.len()..].strip_prefix(", ") {
                let num: String = num.chars().take_while(|c| c.is_ascii_digit()).collect();
                if let Ok(num) = num.parse::<usize>() {
                    assert_eq!(num, id, "FN({name}) out of order");
                }
            }
            assert_eq!(helper_name(id as i32), Some(format!("bpf_{name}").as_str()));
            n += 1;
        }
        assert!(n > 200, "only {n} helpers parsed from the header");
    }

    /// Every possible opcode byte, with odd registers and immediates, at the end of a
    /// stream: a line each, no panic.
    #[test]
    fn never_panics() {
        for code in 0..=255u8 {
            for &(dst, src, off, imm) in &[
                (0u8, 0u8, 0i16, 0i32),
                (15, 15, i16::MIN, i32::MIN),
                (11, 4, i16::MAX, i32::MAX),
                (1, 1, -1, -1),
                (2, 6, 8, 0x100),
            ] {
                let v = [Insn::new(code, dst, src, off, imm)];
                let (s, n) = disasm_insn(&v, 0);
                assert!(!s.is_empty() && (n == 1 || n == 2));
                let (s2, n2) = disasm_insn(&[v[0], v[0]], 0);
                assert!(!s2.is_empty() && (n2 == 1 || n2 == 2));
            }
        }
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let (insns, _) = decode(&bytes);
        let out = disasm(&insns);
        assert!(!out.is_empty());
        let mut prev = None;
        for (i, _) in &out {
            assert!(prev.is_none_or(|p| *i > p));
            prev = Some(*i);
        }
    }
}
