#!/bin/bash
# Runs inside the systemd guest as root, from ffrtmp-vmtest.service (a system unit started by
# multi-user.target). $1 = the run dir (in the project share) written by run-in-vm.sh: "env" (export
# lines), "args" (NUL-separated argv), "cwd". Writes "status"; on failure also "journal.txt" (the whole
# boot's journal) and "units.txt"; then powers the guest off.
RUNDIR="$1"
cd /

# The command's stdout/stderr: the virtio serial ports "out"/"err" (udev names them /dev/virtio-ports/*).
port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    [[ -c /dev/virtio-ports/$1 ]] && { echo "/dev/virtio-ports/$1"; return; }
    for p in /sys/class/virtio-ports/*; do
      [[ -f $p/name && $(<"$p/name") == "$1" && -c /dev/${p##*/} ]] && { echo "/dev/${p##*/}"; return; }
    done
    sleep 0.05
  done
  echo /dev/console
}
exec >"$(port out)" 2>"$(port err)"

finish() {
  local rc=$1
  if [[ $rc -ne 0 ]]; then
    journalctl -b --no-pager -o short-monotonic >"$RUNDIR/journal.txt" 2>&1
    systemctl list-units --all --no-pager >"$RUNDIR/units.txt" 2>&1
  fi
  echo "$rc" >"$RUNDIR/status"
  sync
  echo "VM-EXIT-STATUS=$rc" >&2
  sleep 0.3   # let qemu drain the virtio serial queues before the power goes
  systemctl poweroff --force --no-block 2>/dev/null || poweroff -f
  exit "$rc"
}

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root USER=root LOGNAME=root
export TMPDIR=/tmp LANG=C.UTF-8 FFRTMP_IN_VM=1 FFRTMP_IN_SYSTEMD_VM=1
# node-gyp: build against the headers copied into the image (the guest has no network)
export npm_config_nodedir=/usr/local npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# shellcheck disable=SC1091
. "$RUNDIR/env"
mapfile -d '' -t ARGS <"$RUNDIR/args"
CWD="$(cat "$RUNDIR/cwd")"
cd "$CWD" || { echo "[ffrtmp-vm] cannot cd to $CWD" >&2; finish 125; }

cg=/sys/fs/cgroup
echo "[ffrtmp-vm] uptime=$(cut -d" " -f1 /proc/uptime)s kernel=$(uname -r) pid1=$(cat /proc/1/comm) $(systemctl --version | head -1) fs=$(stat -fc %T $cg) cgroup.controllers=[$(cat $cg/cgroup.controllers)] node=$(node --version 2>/dev/null || echo none) cwd=$CWD" >&2
echo "[ffrtmp-vm] ---- running: ${ARGS[*]}" >&2
"${ARGS[@]}"
finish $?
