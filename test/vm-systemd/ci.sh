#!/usr/bin/env bash
# CI entry of the systemd guest suite (called by .ci/run): the deployment proof of issue 12
# (run-scenarios.sh: install, agent, restarts, watch, a user's delegation, uninstall) in a throwaway
# qemu guest booting Debian 12 with systemd as PID 1. This workplace's /dev/kvm cannot boot a stock
# kernel (PVM), so the guest runs under software emulation (FFRTMP_VM_ALLOW_TCG=1): measured 4 min (low load) to 18 min (load 10-14).
# A skip (77) fails under CI=true/CI=1 and is a loud warning elsewhere, as for test/vm.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 125
t0=$SECONDS
# Known failures (XFAIL; an unexpected pass fails the run, so that the list is kept true): none.
# Scenarios 3 and 4 failed on systemd 252 while job cgroups lived below the unit (a restarted unit's
# new main process is refused, 219/CGROUP); the installer now chooses the `top` layout there
# (docs/edge-deployment.md "cgroup v2"), and they pass.
export FFRTMP_SD_XFAIL="${FFRTMP_SD_XFAIL-}"
FFRTMP_VM_ALLOW_TCG="${FFRTMP_VM_ALLOW_TCG:-1}" bash test/vm-systemd/run-scenarios.sh
rc=$?
echo "[vm-sd] systemd guest suite: status $rc after $((SECONDS - t0)) s" >&2
if [ "$rc" -eq 77 ]; then
  case "${CI:-}" in
    true | TRUE | True | 1)
      echo "!! systemd guest suite SKIPPED under CI=${CI}: failing, a CI run must run it (see the message above)" >&2
      exit 1
      ;;
  esac
  {
    echo "=================================================================="
    echo "!! systemd guest suite SKIPPED (see the message above): the deployment was not proven under systemd"
    echo "=================================================================="
  } >&2
  exit 0
fi
[ "$rc" -eq 0 ] || echo "!! systemd guest suite FAILED with status $rc (logs: the .vm/run/sd.* directory named above)" >&2
exit "$rc"
