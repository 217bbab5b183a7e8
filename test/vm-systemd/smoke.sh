#!/bin/bash
# Smoke test of the systemd guest (runs inside it): systemd is PID 1 and the system comes up,
# cgroup v2 is pure, Redis runs. Each failed check prints one line and makes the exit status non-zero.
set -uo pipefail
fails=0
check() { local what="$1"; shift; if "$@"; then echo "ok   $what"; else echo "FAIL $what" >&2; fails=$((fails + 1)); fi; }

state="$(timeout 300 systemctl is-system-running --wait 2>&1)"
echo "system state: $state"
if [[ $state != running ]]; then
  echo "failed units:" >&2; systemctl --failed --no-legend --no-pager >&2
fi
check "systemctl is-system-running --wait: running (got $state)" test "$state" = running
check "PID 1 is systemd ($(cat /proc/1/comm))" test "$(cat /proc/1/comm)" = systemd
systemd --version | head -1
check "systemd --version is 252 (Debian 12)" bash -c 'systemd --version | head -1 | grep -q "^systemd 252 "'
check "/sys/fs/cgroup is cgroup2 alone ($(stat -fc %T /sys/fs/cgroup))" test "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs
no_v1() { ! awk '$3 == "cgroup" { f = 1 } END { exit !f }' /proc/self/mounts; }
check "no cgroup v1 hierarchy mounted" no_v1
check "memory, cpu, io, pids controllers on the v2 root ($(cat /sys/fs/cgroup/cgroup.controllers))" \
  bash -c 'for c in memory cpu io pids; do grep -qw $c /sys/fs/cgroup/cgroup.controllers || exit 1; done'
check "this runner is a systemd unit (cgroup $(cut -d: -f3 /proc/self/cgroup))" \
  bash -c 'grep -qx "0::/system.slice/ffrtmp-vmtest.service" /proc/self/cgroup'
check "redis-server.service is active" systemctl is-active --quiet redis-server.service
check "redis answers PING" bash -c '[ "$(redis-cli -h 127.0.0.1 ping)" = PONG ]'
check "node $(node --version) runs" node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'
echo "uptime at the end: $(cut -d' ' -f1 /proc/uptime)s"
systemd-analyze 2>/dev/null | head -1
exit $((fails > 0))
