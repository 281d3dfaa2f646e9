#!/bin/bash
# usage: run-vm.sh KERNEL INITRD GUEST_SCRIPT [SHARE_DIR]   (KERNEL: vmlinuz or vmlinux)
# Boots the kernel under QEMU, runs GUEST_SCRIPT (a path inside the guest) and exits with
# its exit code, or 99 when the guest never reported one (crash, panic, timeout).
# env: VM_ACCEL=tcg|kvm (tcg), VM_TCG_THREAD=single|multi (single), VM_CPU (TCG's -cpu, max),
#      VM_MEM (1G), VM_SMP (2), VM_TIMEOUT (seconds, 600),
#      HOSTROOT=1 (also share the host's / read-only, mounted at /host), VM_APPEND (more
#      kernel command line words).
# SHARE_DIR is mounted read-write at /mnt in the guest (and at its own path under /host).
# The serial console is printed; the VM-* marker lines get elapsed-time prefixes.
set -uo pipefail
kernel=$1 initrd=$2 cmd=$3 share=${4:-}
accel=${VM_ACCEL:-tcg}
args=(-kernel "$kernel" -initrd "$initrd" -m "${VM_MEM:-1G}" -smp "${VM_SMP:-2}"
	-nographic -vga none -nic none -no-reboot)
# TCG runs the vCPUs on one host thread (VM_TCG_THREAD=single) by default: with one thread
# per vCPU, a vCPU can still run code another one has just patched (the kernel enables a
# tracepoint by writing an int3, then the new instruction, with IPIs between), and a guest
# died of it: "Oops: int3" in syscall_trace_enter while a test attached to sys_enter and
# another thread made system calls (6.12, CI run of 2026-11-22).
if [ "$accel" = tcg ]; then args+=(-accel "tcg,thread=${VM_TCG_THREAD:-single}" -cpu "${VM_CPU:-max}"); else args+=(-accel kvm -cpu host); fi
[ -n "$share" ] && args+=(-virtfs "local,path=$share,mount_tag=host0,security_model=none,id=host0")
[ -n "${HOSTROOT:-}" ] && args+=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap,id=hostroot")
# The kernel command line splits on spaces: the guest command is one script path.
args+=(-append "console=ttyS0 panic=-1 quiet loglevel=4 vmcmd=$cmd ${share:+sharepath=$share }${VM_APPEND:-}")
start=${EPOCHREALTIME/./} rc=99
elapsed() { local us=$((${EPOCHREALTIME/./} - start)); printf '%4d.%01ds' $((us / 1000000)) $((us / 100000 % 10)); }
while IFS= read -r line; do
	line=${line%$'\r'}
	# SeaBIOS clears the screen with escape sequences: drop them and its banner
	line=$(sed -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' -e 's/^Booting from ROM\.*//' <<<"$line")
	case $line in SeaBIOS* | '') continue ;; esac
	case $line in
	VM-READY* | VM-EXIT* | VM-POWEROFF*) printf '[%s] %s\n' "$(elapsed)" "$line" ;;
	*) printf '%s\n' "$line" ;;
	esac
	case $line in VM-EXIT\ rc=*) rc=${line#VM-EXIT rc=} ;; esac
done < <(timeout -k 5 "${VM_TIMEOUT:-600}" qemu-system-x86_64 "${args[@]}" </dev/null 2>&1
	s=$?; [ $s = 124 ] && echo "VM: killed after VM_TIMEOUT=${VM_TIMEOUT:-600}s"; echo "QEMU-EXIT status=$s")
printf '[%s] qemu gone\n' "$(elapsed)"
exit "$rc"
