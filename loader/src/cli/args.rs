//! The command line, as clap definitions (also used to generate completions and the man page).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  rbpf-load xdp_classifier.bpf.o --sec xdp_classifier --dev eth0
      load, fill the tail-call table, attach as XDP (like `ip link set dev eth0 xdp obj ...`)
  rbpf-load tc_count.bpf.o --sec tc --prog count_alt --dev eth0 --ingress
      attach a tc direct-action filter on clsact ingress (like `tc filter add ... bpf da obj ...`)
  rbpf-load xdp_count.bpf.o --sec xdp --dev eth0 --dev eth1
      load once, attach the same program to both devices (each attachment pinned apart)
  rbpf-load load proc_events.bpf.o
      does my object load on this kernel? (loads everything, reports, unloads)
  rbpf-load show --dev eth0
  rbpf-load detach --dev eth0 --xdp
  rbpf-load inspect xdp_classifier.bpf.o --disasm
  rbpf-load map dump /sys/fs/bpf/rbpf/xdp_classifier/eth0-xdp/maps/counts
  rbpf-load map update name:jmp_table@id:42 key 1 value name:handle_tcp
      refill a tail-call slot (maps and programs by id:N, pin, name:NAME)
  rbpf-load prog.bpf.o --sec .text --dev eth0 --xdp
      a function written without SEC() (like `ip link set dev eth0 xdp obj prog.bpf.o sec .text`)
  rbpf-load build hello.bpf.c && rbpf-load hello.bpf.o --sec xdp --dev eth0
      build your own program with clang (a vmlinux.h for this kernel made on the way)";

#[derive(Parser, Debug)]
#[command(
    name = "rbpf-load",
    version,
    about = "Load, attach and explain eBPF programs: a pure-Rust loader (no libbpf)",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Act inside this named network namespace (like `ip -n`).
    #[arg(short = 'n', long, global = true)]
    pub netns: Option<String>,
    #[command(flatten)]
    pub attach: AttachArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load every program and map of an object and attach nothing (like `bpftool prog loadall`).
    #[command(
        after_help = "Examples:\n  rbpf-load load globals.bpf.o\n  rbpf-load load tc_count.bpf.o --pin /sys/fs/bpf/tc_count"
    )]
    Load(LoadArgs),
    /// What is attached where: XDP and tc (clsact) bpf filters, with ids and our pins.
    #[command(after_help = "Examples:\n  rbpf-load show\n  rbpf-load show --dev eth0 -j")]
    Show(ShowArgs),
    /// Remove an attachment, its pins, and a clsact qdisc we created that is now empty.
    #[command(
        after_help = "Examples:\n  rbpf-load detach --dev eth0 --xdp\n  rbpf-load detach --dev eth0 --ingress --prio 1 --handle 1\n  rbpf-load detach --pin /sys/fs/bpf/mytrace"
    )]
    Detach(DetachArgs),
    /// Programs, maps, relocations, BTF and disassembly of an object, without the kernel.
    #[command(
        after_help = "Examples:\n  rbpf-load inspect xdp_classifier.bpf.o\n  rbpf-load inspect core_task.bpf.o --disasm --kernel"
    )]
    Inspect(InspectArgs),
    /// Maps in the kernel.
    #[command(subcommand)]
    Map(MapCommand),
    /// Generate files: `vmlinux-h`, the kernel's types as C.
    #[command(subcommand)]
    Gen(GenCommand),
    /// Build a BPF program from C with clang (clang-19, or $CLANG): the target, flags and
    /// include paths it needs, and a vmlinux.h generated from this kernel when none is given.
    #[command(
        after_help = "Examples:\n  rbpf-load build hello.bpf.c\n  rbpf-load build hello.bpf.c -o hello.bpf.o -I include\n  rbpf-load hello.bpf.o --sec xdp --dev eth0"
    )]
    Build(BuildArgs),
    /// Shell completions (bash, zsh, fish, ...) on standard output.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The man page (roff) on standard output.
    Man,
}

#[derive(Subcommand, Debug)]
pub enum MapCommand {
    /// Keys and values, formatted through the map's BTF when it has some.
    #[command(
        after_help = "Examples:\n  rbpf-load map dump 42\n  rbpf-load map dump id:42\n  rbpf-load map dump name:counts\n  rbpf-load map dump /sys/fs/bpf/rbpf/xdp_classifier/eth0-xdp/maps/counts -j"
    )]
    Dump {
        /// The map: ID or id:ID, name:NAME, name:NAME@PROG (the map of a program), or a pinned
        /// path (pinned:PATH).
        map: String,
        /// JSON output.
        #[arg(short = 'j', long = "json")]
        json: bool,
    },
    /// The value at a key: `key K...` (a number, JSON through the map's BTF, `hex 01 02 ..`,
    /// or one number per byte).
    #[command(
        after_help = "Examples:\n  rbpf-load map lookup name:counts key 2\n  rbpf-load map lookup id:42 key '{\"saddr\": \"10.0.0.1\", \"proto\": 6}' -j"
    )]
    Lookup {
        /// The map: ID or id:ID, name:NAME, name:NAME@PROG (the map of a program), or a pinned
        /// path (pinned:PATH).
        map: String,
        /// key K...
        #[arg(required = true, allow_negative_numbers = true)]
        args: Vec<String>,
        #[arg(short = 'j', long = "json")]
        json: bool,
    },
    /// Set the value at a key (`any`, the default, `exist` or `noexist`); a PROG_ARRAY slot
    /// takes a program: `value id:N`, `value PIN` or `value name:NAME`.
    #[command(
        after_help = "Examples:\n  rbpf-load map update name:counts key 2 value 0\n  rbpf-load map update /sys/fs/bpf/x/maps/jmp_table key 1 value name:handle_tcp\n  rbpf-load map update id:42 key hex 0a 00 00 01 value 7 noexist"
    )]
    Update {
        /// The map: ID or id:ID, name:NAME, name:NAME@PROG, or a pinned path (pinned:PATH).
        map: String,
        /// key K... value V... [any|exist|noexist]
        #[arg(required = true, allow_negative_numbers = true)]
        args: Vec<String>,
    },
    /// Remove the entry at a key.
    #[command(after_help = "Examples:\n  rbpf-load map delete name:flows key 3")]
    Delete {
        /// The map: ID or id:ID, name:NAME, name:NAME@PROG, or a pinned path (pinned:PATH).
        map: String,
        /// key K...
        #[arg(required = true, allow_negative_numbers = true)]
        args: Vec<String>,
    },
    /// The key after `key K...` (the first key without one).
    #[command(
        after_help = "Examples:\n  rbpf-load map getnext name:counts\n  rbpf-load map getnext name:counts key 3"
    )]
    Getnext {
        /// The map: ID or id:ID, name:NAME, name:NAME@PROG, or a pinned path (pinned:PATH).
        map: String,
        /// [key K...]
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        #[arg(short = 'j', long = "json")]
        json: bool,
    },
    /// Pin a map in bpffs, so that it outlives its programs and this process.
    #[command(after_help = "Examples:\n  rbpf-load map pin id:42 /sys/fs/bpf/counts")]
    Pin {
        /// The map: ID or id:ID, name:NAME, name:NAME@PROG, or a pinned path (pinned:PATH).
        map: String,
        /// Where, inside bpffs (/sys/fs/bpf).
        path: PathBuf,
    },
    /// Maps in the kernel: type, key and value sizes, entries, BTF and pins (every map, or
    /// one).
    #[command(after_help = "Examples:\n  rbpf-load map show\n  rbpf-load map show name:counts -j")]
    Show {
        /// One map (all without): ID or id:ID, name:NAME, name:NAME@PROG, or a pinned path (pinned:PATH).
        map: Option<String>,
        #[arg(short = 'j', long = "json")]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum GenCommand {
    /// The running kernel's types as one C header (what `bpftool btf dump file
    /// /sys/kernel/btf/vmlinux format c` prints), from rbpf-load's own BTF reader.
    #[command(
        name = "vmlinux-h",
        after_help = "Examples:\n  rbpf-load gen vmlinux-h > vmlinux.h\n  rbpf-load gen vmlinux-h -o include/vmlinux.h"
    )]
    VmlinuxH {
        /// Write here instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// The BTF to read (a kernel's, or any BTF file).
        #[arg(long, default_value = "/sys/kernel/btf/vmlinux")]
        btf: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The C source (`hello.bpf.c`).
    pub source: PathBuf,
    /// The object to write (default: the source with `.o` for `.c`).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// More include directories (a vmlinux.h there is used instead of a generated one).
    #[arg(short = 'I', value_name = "DIR")]
    pub include: Vec<PathBuf>,
    /// Print the clang command before running it.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Generic XDP (any device, slower).
    Skb,
    /// Driver XDP.
    Native,
    /// Offloaded to the NIC.
    Hw,
}

#[derive(Args, Debug, Default)]
pub struct AttachArgs {
    /// The object file (clang -target bpf output).
    pub object: Option<PathBuf>,
    /// The section of the program to attach (with --all: of the programs; repeatable).
    #[arg(long, value_name = "SEC")]
    pub sec: Vec<String>,
    /// The program, when several share the section (with --all: a program to attach;
    /// repeatable).
    #[arg(long, value_name = "NAME")]
    pub prog: Vec<String>,
    /// Load the object once and attach every program whose section names its hook (or the
    /// ones --sec/--prog select): an application, one process, one set of maps.
    #[arg(long)]
    pub all: bool,
    /// The network device for XDP or tc; repeat it to attach the program, loaded once, to
    /// several devices (all or none: a failure on one undoes the others).
    #[arg(long, value_name = "DEV")]
    pub dev: Vec<String>,
    /// XDP mode (default: let the kernel choose).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Attach as XDP (for a section name that does not say).
    #[arg(long, conflicts_with_all = ["ingress", "egress"])]
    pub xdp: bool,
    /// tc: clsact ingress (with --all and --egress: a plain `tc` program goes to both).
    #[arg(long)]
    pub ingress: bool,
    /// tc: clsact egress.
    #[arg(long)]
    pub egress: bool,
    /// tc filter priority (default 1).
    #[arg(long)]
    pub prio: Option<u16>,
    /// tc filter handle (default 1).
    #[arg(long)]
    pub handle: Option<u32>,
    /// Replace what is attached there (tcx: our attachment of the same program on that
    /// hook, swapped in one step through its link).
    #[arg(long)]
    pub replace: bool,
    /// XDP through a bpf link (pinned with the attachment) instead of netlink: another tool
    /// cannot replace or detach it while the link holds the hook.
    #[arg(long)]
    pub link: bool,
    /// Attach a tc program through tcx (Linux 6.6+): a bpf link in the device's chain, no
    /// qdisc (`tcx/ingress` and `tcx/egress` sections do without asking).
    #[arg(long)]
    pub tcx: bool,
    /// tcx: first in the chain.
    #[arg(long, conflicts_with_all = ["last", "before", "after"])]
    pub first: bool,
    /// tcx: last in the chain (the default).
    #[arg(long, conflicts_with_all = ["before", "after"])]
    pub last: bool,
    /// tcx: right before this program (id:N, a pinned path, or a program's name on the hook).
    #[arg(long, value_name = "PROG", conflicts_with = "after")]
    pub before: Option<String>,
    /// tcx: right after this program (id:N, a pinned path, or a program's name on the hook).
    #[arg(long, value_name = "PROG")]
    pub after: Option<String>,
    /// Pin programs and maps here (default /sys/fs/bpf/rbpf/OBJECT/DEV-HOOK).
    #[arg(long)]
    pub pin: Option<PathBuf>,
    /// Fill a tail-call slot: MAP[IDX]=PROG (repeatable).
    #[arg(long = "prog-array", value_name = "MAP[IDX]=PROG")]
    pub prog_array: Vec<String>,
    /// fentry/fexit on a BPF program: a program of this object, id:N, or a pinned path.
    #[arg(long)]
    pub target: Option<String>,
    /// Stay in the foreground, print events, detach and unpin everything on Ctrl-C/SIGTERM.
    #[arg(long)]
    pub foreground: bool,
    /// With --foreground: print records from this perf event array or ring buffer,
    /// formatted through a BTF struct (MAP=STRUCT) or as hex.
    #[arg(long, value_name = "MAP[=TYPE]")]
    pub events: Vec<String>,
    /// With --foreground --events: detach after N events (like `tcpdump -c N`).
    #[arg(short = 'c', long, value_name = "N", requires = "events", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// With --foreground: also stream bpf_printk output (trace_pipe).
    #[arg(long = "trace-pipe")]
    pub trace_pipe: bool,
    /// Set a global variable before load: NAME=VALUE (integer; repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Narrate each step: BTF fix-ups, maps, relocations, bpf() and netlink calls.
    #[arg(long)]
    pub explain: bool,
    /// The verifier's log of every program loaded, also when it accepts them, after the
    /// attach line: -v its summary (log level 1; all of it on failure), -vv every
    /// instruction with the register states (level 2).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Who resolves CO-RE relocations: the kernel while it verifies the program (kernel,
    /// Linux 5.17+), rbpf-load against /sys/kernel/btf/vmlinux (user), or the kernel where
    /// it can and rbpf-load otherwise (auto, the default; --explain resolves here to show
    /// each relocation).
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        value_name = "WHO",
        hide_possible_values = true
    )]
    pub core: crate::load::CoreMode,
    #[command(flatten)]
    pub share: ShareArgs,
}

/// Maps shared through bpffs.
#[derive(Args, Debug, Default)]
pub struct ShareArgs {
    /// Where maps declared `pinning = LIBBPF_PIN_BY_NAME` are pinned and found (like
    /// libbpf's pin_root_path; default /sys/fs/bpf; tc uses /sys/fs/bpf/tc/globals).
    #[arg(long = "pin-root", value_name = "DIR")]
    pub pin_root: Option<PathBuf>,
    /// Use the map pinned at PATH for the object's map NAME instead of creating one
    /// (repeatable); it must match in type, sizes, max_entries and flags.
    #[arg(long = "reuse-map", value_name = "NAME=PATH")]
    pub reuse_map: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    pub object: PathBuf,
    /// Pin every program and map under DIR (otherwise: report, then unload).
    #[arg(long)]
    pub pin: Option<PathBuf>,
    /// Program type for sections the name table does not know (xdp, tc, ...).
    #[arg(long = "type")]
    pub prog_type: Option<String>,
    /// Set a global variable before load: NAME=VALUE (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    #[arg(short = 'j', long = "json")]
    pub json: bool,
    #[arg(long)]
    pub explain: bool,
    /// The verifier's log of every program, also when it accepts them: -v level 1, -vv
    /// level 2 (every instruction with the register states); -j carries it.
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Who resolves CO-RE relocations: the kernel (kernel), rbpf-load (user), or the kernel
    /// where it can and rbpf-load otherwise (auto, the default).
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        value_name = "WHO",
        hide_possible_values = true
    )]
    pub core: crate::load::CoreMode,
    #[command(flatten)]
    pub share: ShareArgs,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[arg(long)]
    pub dev: Option<String>,
    #[arg(short = 'j', long = "json")]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DetachArgs {
    #[arg(long, required_unless_present = "pin")]
    pub dev: Option<String>,
    /// The tcx attachments of ours on --ingress/--egress (both without either).
    #[arg(long, conflicts_with = "xdp")]
    pub tcx: bool,
    #[arg(long, conflicts_with_all = ["ingress", "egress"])]
    pub xdp: bool,
    #[arg(long, conflicts_with = "egress")]
    pub ingress: bool,
    #[arg(long)]
    pub egress: bool,
    #[arg(long)]
    pub prio: Option<u16>,
    #[arg(long)]
    pub handle: Option<u32>,
    /// Remove pinned links/programs/maps under DIR (tracing attachments).
    #[arg(long, conflicts_with = "dev")]
    pub pin: Option<PathBuf>,
    #[arg(long)]
    pub explain: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    pub object: PathBuf,
    /// Disassemble each program (verifier syntax), with C source lines.
    #[arg(long)]
    pub disasm: bool,
    /// Every BTF type in C-like form.
    #[arg(long)]
    pub btf: bool,
    /// Resolve CO-RE relocations against the running kernel's BTF.
    #[arg(long)]
    pub kernel: bool,
    #[arg(short = 'j', long = "json")]
    pub json: bool,
}
