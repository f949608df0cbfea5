#!/bin/sh
# Re-record the trace fixtures of corpus/traces/ (docs/recording.md says
# when: after a deliberate change of device behaviour, the firmware or the
# trace format). Run from anywhere:
#
#   corpus/traces/record.sh [path/to/ringside] [--unicorn]
#
# Default binary: build/bin/ringside under the source tree. The fixtures are
# recorded under KVM unless --unicorn is given (both record the same device
# traffic; only the interrupt checks, which need KVM's irqchip, differ).
# Every recording must pass; then `ctest -R replay_fixture` replays them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cli=${1:-$here/../../build/bin/ringside}
backend=${2:---kvm}

rec() {
	name=$1
	shift
	echo "== $name: $*"
	"$cli" record "$backend" --machine "$*" -o "$here/$name.trace"
}

# every device model and transport the workload uses, in one machine
"$cli" record "$backend" -o "$here/firmware_all.trace"
# one fixture per device model, so a divergence names the model
rec echo    "mem=16M pci:echo pci-modern:echo pci-legacy:echo mmio:echo mmio-legacy:echo"
rec blk     "mem=16M pci:blk,size=1M mmio:blk,size=1M"
rec net     "mem=16M pci-modern:net mmio-legacy:net"
rec rng     "mem=16M pci-legacy:rng mmio:rng"
rec console "mem=16M pci:console mmio-legacy:console"
rec scsi    "mem=16M pci-modern:scsi,disk0=1M mmio:scsi,disk0=1M"
rec vmmci   "mem=16M pci-legacy:vmmci"
rec balloon "mem=16M pci:balloon mmio:balloon"
ls -l "$here"/*.trace
