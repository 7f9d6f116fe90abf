#!/bin/sh
# Prints "kvm" if the x86_64 guest (KERNEL, INITRD) boots to VTB-DONE rc=0
# under -accel kvm within TIMEOUT seconds, else "tcg":
#   accel.sh KERNEL INITRD [TIMEOUT]
# /dev/kvm alone proves nothing: under nested KVM it opens, and the guest
# then stops with "KVM internal error. Suberror: 1" while QEMU stays up.
set -u
kernel=$1 initrd=$2 timeout=${3:-30}
here=$(dirname "$0")
. "$here/machine.conf"
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo tcg; exit 0; fi
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
"$X86_64_QEMU" -M "$X86_64_MACHINE" -accel kvm -cpu host -smp 1 -m 256M \
	-nographic -no-reboot -kernel "$kernel" -initrd "$initrd" \
	-append "console=$X86_64_CONSOLE quiet panic=-1 vtb.test=boot" </dev/null >"$log" 2>&1 &
pid=$!
verdict=tcg
i=0
while [ $i -lt $((timeout * 5)) ]; do
	if grep -q "VTB-DONE rc=0" "$log"; then verdict=kvm; break; fi
	grep -q "KVM internal error\|failed to set MSR\|Assertion" "$log" && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.2
	i=$((i + 1))
done
kill $pid 2>/dev/null
wait $pid 2>/dev/null
echo $verdict
