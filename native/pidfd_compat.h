// Kernel interfaces newer than the C library headers we may be built against.
//
// Why this file exists: prebuilds are compiled on old-glibc images and Debian's
// linux-libc-dev here predates the running 6.18 kernel, yet every feature below is
// probed at runtime. So we define the ABI ourselves (values are kernel UAPI and never
// change) and let the kernel answer ENOSYS/ENOTTY/EINVAL when it lacks them.
#pragma once

#include <linux/types.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstdint>

// Syscall numbers: since 5.x new syscalls share one number on every architecture
// (asm-generic unification), except alpha which we do not build for.
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#ifndef P_PIDFD
#define P_PIDFD 3  // waitid(2) idtype, Linux 5.4
#endif

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000  // Linux 5.2
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL  // Linux 5.7
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)  // Linux 5.11
#endif

namespace ffrtmp {

// struct clone_args as of CLONE_ARGS_SIZE_VER2 (88 bytes, Linux 5.7). Our own name so it
// never collides with <linux/sched.h> when that header is new enough to declare it.
struct CloneArgs {
  alignas(8) uint64_t flags;
  alignas(8) uint64_t pidfd;
  alignas(8) uint64_t child_tid;
  alignas(8) uint64_t parent_tid;
  alignas(8) uint64_t exit_signal;
  alignas(8) uint64_t stack;
  alignas(8) uint64_t stack_size;
  alignas(8) uint64_t tls;
  alignas(8) uint64_t set_tid;
  alignas(8) uint64_t set_tid_size;
  alignas(8) uint64_t cgroup;
};
static_assert(sizeof(CloneArgs) == 88, "CLONE_ARGS_SIZE_VER2");
// Without CLONE_INTO_CGROUP we pass the VER0 size so a 5.3-5.6 kernel accepts the call.
constexpr unsigned long kCloneArgsSizeVer0 = 64;
constexpr unsigned long kCloneArgsSizeVer2 = 88;

// struct pidfd_info, PIDFD_INFO_SIZE_VER0 (64 bytes). Linux 6.13 published it with a
// spare word that 6.15 turned into exit_code. The ioctl is extensible: the kernel reads
// the size from the request number and copies only what both sides know, so the
// 64-byte version keeps working on newer kernels.
struct PidfdInfo {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid;
  uint32_t ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;  // wait(2) status word, valid when mask has PIDFD_INFO_EXIT
};
static_assert(sizeof(PidfdInfo) == 64, "PIDFD_INFO_SIZE_VER0");

constexpr uint64_t kPidfdInfoExit = 1ULL << 3;  // PIDFD_INFO_EXIT, Linux 6.15
// PIDFD_GET_INFO = _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info), Linux 6.13.
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);

}  // namespace ffrtmp
