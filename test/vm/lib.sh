# shellcheck shell=bash
# Shared by test/vm/run-in-vm.sh and test/vm-systemd/run-in-vm.sh (sourced, not run): the skip
# banner and its exit status, and the choice between KVM and TCG.

# Prints the banner and exits 77 (the harnesses' "skipped").
vm_skip() {
  {
    echo "=================================================================="
    echo "VM TESTS SKIPPED: $*"
    echo "  (set FFRTMP_VM_ALLOW_TCG=1 to run under slow software emulation)"
    echo "=================================================================="
  } >&2
  exit 77
}

# Sets ACCEL to kvm when /dev/kvm can boot a stock kernel; else to tcg with FFRTMP_VM_ALLOW_TCG=1,
# and otherwise skips (exit 77) saying why.
vm_choose_accel() {
  # shellcheck disable=SC2034 # read by the caller
  ACCEL=kvm
  local kvm_problem=""
  if [[ ! -e /dev/kvm ]]; then
    kvm_problem="/dev/kvm unavailable (does not exist)"
  elif [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
    kvm_problem="/dev/kvm unavailable (not readable/writable by $(id -un); add the user to group kvm)"
  elif ! perl -e 'use Fcntl; sysopen(my $f, "/dev/kvm", O_RDWR) or exit 2;
                  my $v = ioctl($f, 0xAE00, 0); exit 3 unless defined $v && $v == 12;
                  defined(ioctl($f, 0xAE01, 0)) or exit 4; exit 0' 2>/dev/null; then
    kvm_problem="/dev/kvm unavailable (KVM_CREATE_VM failed, exit $?)"
  elif [[ -d /sys/module/kvm_pvm ]] && ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
    # PVM (pagetable-based virtualization, kvm_pvm) accepts KVM_CREATE_VM but only runs PVM-enlightened
    # guest kernels (CONFIG_PVM_GUEST); a stock Debian kernel hangs in firmware/early boot under it.
    kvm_problem="/dev/kvm unavailable (it is PVM - kvm_pvm without VMX/SVM - which cannot boot a stock Debian kernel)"
  fi
  if [[ -n $kvm_problem ]]; then
    if [[ "${FFRTMP_VM_ALLOW_TCG:-}" == 1 ]]; then
      echo "[ffrtmp-vm] WARNING: $kvm_problem; FFRTMP_VM_ALLOW_TCG=1 -> using TCG software emulation (slow)" >&2
      # shellcheck disable=SC2034 # read by the caller
      ACCEL=tcg
    else
      vm_skip "$kvm_problem"
    fi
  fi
}
