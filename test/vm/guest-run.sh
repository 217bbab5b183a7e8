#!/bin/bash
# Runs inside the guest, chrooted into the host's userland, as root. $1 = the run dir (in the project
# share) written by run-in-vm.sh: "env" (export lines), "args" (NUL-separated argv), "cwd".
RUNDIR="$1"
cd /
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root USER=root LOGNAME=root
export TMPDIR=/tmp LANG=C.UTF-8 FFRTMP_IN_VM=1
# shellcheck disable=SC1091
. "$RUNDIR/env"
mapfile -d '' -t ARGS <"$RUNDIR/args"
CWD="$(cat "$RUNDIR/cwd")"
cd "$CWD" || { echo "[ffrtmp-vm] cannot cd to $CWD" >&2; echo 125 >"$RUNDIR/status"; exit 125; }

cg=/sys/fs/cgroup
node_v="$(node --version 2>/dev/null || echo none)"
echo "[ffrtmp-vm] uptime=$(cut -d" " -f1 /proc/uptime)s kernel=$(uname -r) root=${ROOTMODE:-?} cgroup.controllers=[$(cat $cg/cgroup.controllers)] subtree_control=[$(cat $cg/cgroup.subtree_control)] node=$node_v cwd=$CWD" >&2

if [[ -n "${FFRTMP_VM_CGROUP:-}" ]]; then
  # Run the command in a leaf cgroup instead of the root one (e.g. FFRTMP_VM_CGROUP=test.slice/run.scope).
  mkdir -p "$cg/$FFRTMP_VM_CGROUP" && echo $$ >"$cg/$FFRTMP_VM_CGROUP/cgroup.procs" \
    || echo "[ffrtmp-vm] warning: could not move into cgroup $FFRTMP_VM_CGROUP" >&2
fi

echo "[ffrtmp-vm] ---- running: ${ARGS[*]}" >&2
"${ARGS[@]}"
rc=$?
echo "$rc" >"$RUNDIR/status"
sync
echo "VM-EXIT-STATUS=$rc" >&2
exit "$rc"
