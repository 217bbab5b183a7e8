#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

#include "keeper_protocol.h"
#include "pidfd_compat.h"
#include "unique_fd.h"

namespace ffrtmp {

namespace {

#ifdef _NSIG
constexpr int kNsig = _NSIG;
#else
constexpr int kNsig = NSIG;
#endif

// What the child (and, under a keeper, the keeper) reports: one fixed-size record per
// write(2) (native/keeper_protocol.h), atomic on the CLOEXEC pipe (16 bytes < PIPE_BUF) and one
// datagram on the keeper's SOCK_SEQPACKET socket. EOF with no fatal record = the workload exec'd.
using Record = ffrtmp_report;
static_assert(sizeof(Record) == 16, "ffrtmp_report is 16 bytes");

// Everything the child needs, prepared in the parent: after clone the child may only
// make async-signal-safe calls (the parent is multithreaded, so malloc, locks and most
// of libc are off limits until execve).
struct ChildPlan {
  char* const* argv;
  char* const* envp;
  const char* const* candidates;
  size_t nCandidates;
  const char* cwd;  // nullptr: stay
  const char* const* procs;
  size_t nProcs;
  int reportFd;
  // Under a keeper: exec this instead of the workload (the keeper does the PATH search).
  const char* keeperPath;  // nullptr: no keeper
  char* const* keeperArgv;
  char* const* keeperEnvp;
};

void Report(int fd, int32_t kind, int32_t index, int32_t err) {
  Record r{kind, index, err, 0};
  while (write(fd, &r, sizeof r) < 0 && errno == EINTR) {
  }
}

// Async-signal-safe unsigned -> decimal.
size_t FormatUint(unsigned long v, char* buf /* >= 21 bytes */) {
  char tmp[21];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  return n;
}

// The workload inherits only fds 0-2. close_range(CLOEXEC) (5.11) marks the rest
// close-on-exec in one call and keeps our report pipe working until execve; older
// kernels get the same effect one fd at a time, bounded so a huge RLIMIT_NOFILE
// cannot stall the spawn.
void CloexecFrom3() {
  if (syscall(__NR_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  rlimit rl{};
  rlim_t max = 65536;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < max) max = rl.rlim_cur;
  for (rlim_t fd = 3; fd < max; fd++) {
    int flags = fcntl(static_cast<int>(fd), F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC);
  }
}

[[noreturn]] void ChildMain(const ChildPlan& p) {
  // Own session: the wrapper's terminal and process group signals (Ctrl-C) are the
  // wrapper's business, which forwards them by policy. Cannot fail in a fresh child
  // (we are not a group leader), but report it rather than run ungoverned.
  if (setsid() < 0) {
    Report(p.reportFd, FFRTMP_REPORT_SETSID, 0, errno);
    _exit(127);
  }
  // Default signal state. Node ignores SIGPIPE and libuv installs handlers; handlers
  // reset at execve but SIG_IGN survives it, and the mask survives too. Signals stay
  // blocked (the parent blocked everything around clone) until the dispositions are
  // default, so no Node handler ever runs in this copy of the process. EINVAL for
  // SIGKILL/SIGSTOP and glibc's reserved 32/33 is expected and ignored.
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int s = 1; s < kNsig; s++) sigaction(s, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Never PR_SET_PDEATHSIG: the workload must outlive a crashed wrapper.

  CloexecFrom3();
  // Node marks its own stdio (fds 0-2) close-on-exec at startup; without this the
  // workload would start with stdin/stdout/stderr closed. The flag is per fd-table
  // entry, so clearing it here leaves the wrapper's own fds untouched.
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }

  if (p.cwd != nullptr && chdir(p.cwd) < 0) {
    Report(p.reportFd, FFRTMP_REPORT_CHDIR, 0, errno);
    _exit(127);
  }

  if (p.nProcs > 0) {
    char pid[21];
    // Raw syscall: after a raw clone3 we do not rely on any libc pid caching.
    size_t len = FormatUint(static_cast<unsigned long>(syscall(SYS_getpid)), pid);
    for (size_t i = 0; i < p.nProcs; i++) {
      int fd;
      do fd = open(p.procs[i], O_WRONLY | O_CLOEXEC);
      while (fd < 0 && errno == EINTR);
      if (fd < 0) {
        Report(p.reportFd, FFRTMP_REPORT_PLACEMENT, static_cast<int32_t>(i), errno);
        continue;
      }
      // One write(2) with the whole number: cgroupfs parses per write.
      ssize_t n;
      do n = write(fd, pid, len);
      while (n < 0 && errno == EINTR);
      if (n < 0) Report(p.reportFd, FFRTMP_REPORT_PLACEMENT, static_cast<int32_t>(i), errno);
      else if (static_cast<size_t>(n) != len) Report(p.reportFd, FFRTMP_REPORT_PLACEMENT, static_cast<int32_t>(i), EIO);
      close(fd);
    }
  }

  if (p.keeperPath != nullptr) {
    // The keeper inherits our socket end (and, like the workload, fds 0-2 only otherwise).
    int flags = fcntl(p.reportFd, F_GETFD);
    if (flags >= 0) fcntl(p.reportFd, F_SETFD, flags & ~FD_CLOEXEC);
    execve(p.keeperPath, p.keeperArgv, p.keeperEnvp);
    Report(p.reportFd, FFRTMP_REPORT_KEEPER_EXEC, 0, errno);
    _exit(127);
  }

  // execvp's rules (glibc posix/execvpe.c): ENOENT/ENOTDIR/ESTALE/ENODEV/ETIMEDOUT try
  // the next candidate, EACCES is remembered and reported if nothing runs, anything else
  // (ENOEXEC, E2BIG, ENOMEM, ELOOP...) stops the search. No /bin/sh retry on ENOEXEC.
  int eaccesIndex = -1;
  int lastErr = ENOENT;
  int lastIndex = 0;
  for (size_t i = 0; i < p.nCandidates; i++) {
    execve(p.candidates[i], p.argv, p.envp);
    int e = errno;
    lastErr = e;
    lastIndex = static_cast<int>(i);
    if (e == EACCES) {
      if (eaccesIndex < 0) eaccesIndex = static_cast<int>(i);
      continue;
    }
    if (e == ENOENT || e == ENOTDIR || e == ESTALE || e == ENODEV || e == ETIMEDOUT) continue;
    Report(p.reportFd, FFRTMP_REPORT_EXEC, lastIndex, e);
    _exit(127);
  }
  if (eaccesIndex >= 0) Report(p.reportFd, FFRTMP_REPORT_EXEC, eaccesIndex, EACCES);
  else Report(p.reportFd, FFRTMP_REPORT_EXEC, lastIndex, lastErr);
  _exit(127);
}

// The child runs on a stack of its own in our memory (CLONE_VM | CLONE_VFORK, below). 64 KiB
// is far more than ChildMain needs; the lowest page is a guard.
constexpr size_t kChildStackSize = 64 * 1024;

int ChildEntry(void* plan) {
  if (plan != nullptr) ChildMain(*static_cast<const ChildPlan*>(plan));
  _exit(0);
}

}  // namespace
}  // namespace ffrtmp

// clone3 with a new stack cannot be called through syscall(2): the child would return into
// syscall()'s frame on a stack that has none. glibc's own clone3 is not exported (2.36), so, as
// glibc does in sysdeps/unix/sysv/linux/<arch>/clone3.S: enter the kernel, and in the child call
// fn(arg) on the new stack and exit(2) with what it returns (it never returns: ChildMain execs or
// _exits). Returns the child's pid, or -errno.
extern "C" long ffrtmp_clone3_call(void* args, unsigned long size, int (*fn)(void*), void* arg);
#if defined(__x86_64__)
asm(R"(
  .text
  .globl ffrtmp_clone3_call
  .hidden ffrtmp_clone3_call
  .type ffrtmp_clone3_call, @function
ffrtmp_clone3_call:
  movq %rdx, %r8
  movq %rcx, %r9
  movl $435, %eax
  syscall
  testq %rax, %rax
  jnz 1f
  xorl %ebp, %ebp
  movq %r9, %rdi
  call *%r8
  movl %eax, %edi
  movl $60, %eax
  syscall
  hlt
1:
  ret
  .size ffrtmp_clone3_call, .-ffrtmp_clone3_call
)");
#elif defined(__aarch64__)
asm(R"(
  .text
  .globl ffrtmp_clone3_call
  .hidden ffrtmp_clone3_call
  .type ffrtmp_clone3_call, %function
ffrtmp_clone3_call:
  mov x9, x2
  mov x10, x3
  mov x8, #435
  svc #0
  cbnz x0, 1f
  mov x29, xzr
  mov x30, xzr
  mov x0, x10
  blr x9
  mov x8, #93
  svc #0
  brk #0
1:
  ret
  .size ffrtmp_clone3_call, .-ffrtmp_clone3_call
)");
#else
extern "C" long ffrtmp_clone3_call(void*, unsigned long, int (*)(void*), void*) { return -ENOSYS; }
#endif

namespace ffrtmp {
namespace {

// Creates the child the way glibc's posix_spawn does: CLONE_VM | CLONE_VFORK, on a stack of its
// own, so nothing of our ~50 MB is copied (a fork copies the page tables, and every page we then
// write faults to be copied again: milliseconds on every start). We are suspended until the child
// has exec'd or exited; our other threads run on and never touch its stack. The child only makes
// system calls (ChildMain) and its signal handlers are its own copy (no CLONE_SIGHAND).
//
// clone3(CLONE_PIDFD[|CLONE_INTO_CGROUP]) first. On ENOSYS (kernel < 5.3, some emulators) or EPERM
// (seccomp filters of older container runtimes), when no cgroup was requested, glibc's clone(2)
// with the same flags and then pidfd_open. That fallback is race-free: only the parent can reap
// its child, and we do not reap before pidfd_open, so the PID cannot be reused in between.
// Runs `plan` (or _exit(0) when null) in the child. Returns the pid, or -1 with *err/*syscallName
// set.
pid_t CloneWithPidfd(int cgroupFd, const ChildPlan* plan, int* pidfdOut, bool* viaFork,
                     int* err, const char** syscallName) {
  void* map = mmap(nullptr, kChildStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) {
    *err = errno;
    *syscallName = "mmap";
    return -1;
  }
  long pageSize = sysconf(_SC_PAGESIZE);
  if (pageSize > 0) mprotect(map, static_cast<size_t>(pageSize), PROT_NONE);  // guard; best effort
  char* stackTop = static_cast<char*>(map) + kChildStackSize;

  int pidfd = -1;
  CloneArgs args{};
  args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | (cgroupFd >= 0 ? CLONE_INTO_CGROUP : 0);
  args.pidfd = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&pidfd));
  args.exit_signal = SIGCHLD;
  args.stack = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(map));
  args.stack_size = kChildStackSize;
  if (cgroupFd >= 0) args.cgroup = static_cast<uint64_t>(cgroupFd);

  // Block every signal across clone so no inherited (Node/libuv) handler can run in the child
  // (it shares our memory) before it resets dispositions. The child unblocks once it is safe.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);

  *viaFork = false;
  long r = ffrtmp_clone3_call(&args, cgroupFd >= 0 ? kCloneArgsSizeVer2 : kCloneArgsSizeVer0, ChildEntry,
                              const_cast<ChildPlan*>(plan));
  int e = r < 0 ? static_cast<int>(-r) : 0;
  if (r < 0 && cgroupFd < 0 && (e == ENOSYS || e == EPERM)) {
    *viaFork = true;
    r = clone(ChildEntry, stackTop, CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ChildPlan*>(plan));
    e = r < 0 ? errno : 0;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  // The child has exec'd or exited (CLONE_VFORK): its stack is ours again.
  munmap(map, kChildStackSize);

  if (r < 0) {
    *err = e;
    *syscallName = *viaFork ? "clone" : "clone3";
    return -1;
  }
  pid_t pid = static_cast<pid_t>(r);
  if (*viaFork) {
    pidfd = static_cast<int>(syscall(__NR_pidfd_open, pid, 0));
    if (pidfd < 0) {
      *err = errno;
      *syscallName = "pidfd_open";
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      return -1;
    }
  }
  *pidfdOut = pidfd;
  return pid;
}

void ReapBlocking(int pidfd) {
  siginfo_t si{};
  while (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED) < 0 &&
         errno == EINTR) {
  }
}

}  // namespace

namespace {

// Reads every record until EOF. From the keeper's socket, a record may carry one fd
// (SCM_RIGHTS, received close-on-exec): the workload's pidfd with FFRTMP_REPORT_STARTED.
// Any other fd that arrives is closed at once.
// From the socket it stops after `stopAt` (a kind), when given: the keeper then waits for us.
void ReadReports(int fd, bool socket, std::vector<Record>* records, UniqueFd* passedFd, int32_t stopAt = 0) {
  if (socket) {
    for (;;) {
      Record r{};
      iovec iov{&r, sizeof r};
      union {
        cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
      } ctl;
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = ctl.space;
      m.msg_controllen = sizeof ctl.space;
      ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      int got = -1;
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
          memcpy(&got, CMSG_DATA(c), sizeof got);
      }
      UniqueFd owned(got);
      if (static_cast<size_t>(n) != sizeof r) continue;  // not ours: ignore
      if (r.kind == FFRTMP_REPORT_STARTED && owned.valid() && !passedFd->valid()) *passedFd = std::move(owned);
      records->push_back(r);
      if (stopAt != 0 && r.kind == stopAt) return;
    }
  }
  Record buf[64];
  size_t have = 0;  // bytes in buf (records are atomic, but reads need not align)
  for (;;) {
    ssize_t n = read(fd, reinterpret_cast<char*>(buf) + have, sizeof buf - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    have += static_cast<size_t>(n);
    size_t whole = have / sizeof(Record);
    records->insert(records->end(), buf, buf + whole);
    have -= whole * sizeof(Record);
    memmove(buf, reinterpret_cast<char*>(buf) + whole * sizeof(Record), have);
  }
}

const char* KeeperStageSyscall(int32_t stage) {
  switch (stage) {
    case FFRTMP_KEEPER_STAGE_PIPE:
      return "pipe2";
    case FFRTMP_KEEPER_STAGE_FORK:
      return "fork";
    default:
      return "keeper";
  }
}

}  // namespace

bool Spawn(const SpawnRequest& req, SpawnResult* out, SpawnFailure* fail) {
  // Pointer arrays into req's strings; req outlives the child's use (until execve).
  auto ptrs = [](const std::vector<std::string>& v) {
    std::vector<char*> p;
    p.reserve(v.size() + 1);
    for (const auto& s : v) p.push_back(const_cast<char*>(s.c_str()));
    p.push_back(nullptr);
    return p;
  };
  std::vector<char*> argv = ptrs(req.argv), envp = ptrs(req.envp);
  std::vector<char*> cands = ptrs(req.candidates), procs = ptrs(req.cgroupProcsPaths);

  int pfd[2];
  if (req.keeper) {
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pfd) < 0) {
      *fail = {errno, "socketpair", false, {}};
      return false;
    }
  } else if (pipe2(pfd, O_CLOEXEC) < 0) {
    *fail = {errno, "pipe2", false, {}};
    return false;
  }
  UniqueFd rd(pfd[0]), wr(pfd[1]);

  // The keeper's command line and environment (native/keeper_protocol.h), built here: the
  // child may not allocate.
  std::vector<std::string> keeperArgvS, keeperEnvpS;
  if (req.keeper) {
    keeperArgvS = {FFRTMP_KEEPER_NAME, req.keeperJobId, "--"};
    keeperArgvS.insert(keeperArgvS.end(), req.argv.begin(), req.argv.end());
    keeperEnvpS = req.envp;
    keeperEnvpS.push_back(std::string(FFRTMP_KEEPER_FD_ENV "=") + std::to_string(wr.get()));
    keeperEnvpS.push_back(std::string(FFRTMP_KEEPER_EXIT_ENV "=") + req.keeperExitFile);
  }
  std::vector<char*> keeperArgv = ptrs(keeperArgvS), keeperEnvp = ptrs(keeperEnvpS);

  ChildPlan plan{argv.data(), envp.data(), cands.data(), req.candidates.size(),
                 req.hasCwd ? req.cwd.c_str() : nullptr, procs.data(),
                 req.cgroupProcsPaths.size(), wr.get(),
                 req.keeper ? req.keeperPath.c_str() : nullptr, keeperArgv.data(), keeperEnvp.data()};
  int pidfd = -1, err = 0;
  bool viaFork = false;
  const char* sc = nullptr;
  pid_t pid = CloneWithPidfd(req.cgroupFd, &plan, &pidfd, &viaFork, &err, &sc);
  if (pid < 0) {
    *fail = {err, sc, false, {}};
    return false;
  }
  UniqueFd owned(pidfd);
  wr.reset();  // our copy: EOF must mean "every other copy closed (exec, or exit)"

  std::vector<Record> records;
  UniqueFd workloadPidfd;
  ReadReports(rd.get(), req.keeper, &records, &workloadPidfd, req.keeper ? FFRTMP_REPORT_STARTED : 0);

  const Record* started = nullptr;
  for (const Record& r : records) {
    if (r.kind == FFRTMP_REPORT_PLACEMENT) continue;
    if (r.kind == FFRTMP_REPORT_STARTED) {
      started = &r;
      continue;
    }
    // Fatal: our child (the workload, or the keeper) is exiting. Reap it through its pidfd
    // (never waitpid(-1)/P_ALL: libuv owns its own children) so no zombie is left.
    ReapBlocking(owned.get());
    switch (r.kind) {
      case FFRTMP_REPORT_CHDIR:
        *fail = {r.err, "chdir", true, req.cwd};
        break;
      case FFRTMP_REPORT_EXEC:
        *fail = {r.err, "execve", true,
                 static_cast<size_t>(r.index) < req.candidates.size() ? req.candidates[r.index] : ""};
        break;
      case FFRTMP_REPORT_KEEPER_EXEC:
        *fail = {r.err, "execve", true, req.keeperPath};
        break;
      case FFRTMP_REPORT_KEEPER_SETUP:
        *fail = {r.err, KeeperStageSyscall(r.index), r.index == FFRTMP_KEEPER_STAGE_ARGS, req.keeperPath};
        break;
      default:
        *fail = {r.err, "setsid", false, {}};
    }
    return false;
  }

  out->viaFork = viaFork;
  out->intoCgroup = req.cgroupFd >= 0;
  for (const Record& r : records)
    if (r.kind == FFRTMP_REPORT_PLACEMENT) out->placementErrors.push_back({r.index, r.err});
  if (!req.keeper) {
    out->pid = pid;
    out->pidfd = owned.release();
    return true;
  }
  if (started == nullptr) {
    // EOF without word of a workload: the program is no keeper, or died before its report. Either
    // way no workload runs (a held process execs only on our go): EPROTO, and the caller may
    // start the workload directly.
    ReapBlocking(owned.get());
    *fail = {EPROTO, "keeper", true, req.keeperPath};
    return false;
  }
  out->pid = started->pid;
  out->pidfdErr = started->err;
  out->pidfd = workloadPidfd.release();
  out->keeperPid = pid;
  out->keeperPidfd = owned.release();
  out->controlFd = rd.release();  // the keeper waits for our go on it (KeeperGo)
  return true;
}

bool KeeperGo(int controlFd, int keeperPidfd, const std::vector<std::string>& candidates, bool start, SpawnFailure* fail) {
  UniqueFd control(controlFd);
  if (!start) {
    // EOF at the keeper: its held child exits without exec, then the keeper does (127).
    control.reset();
    ReapBlocking(keeperPidfd);
    return true;
  }
  Record go{FFRTMP_REPORT_GO, 0, 0, 0};
  // A keeper that died meanwhile: no go reaches it, its child never execs; we read EOF below and
  // the watch on the keeper tells the rest. MSG_NOSIGNAL: no SIGPIPE into Node.
  while (send(control.get(), &go, sizeof go, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
  std::vector<Record> records;
  UniqueFd none;
  ReadReports(control.get(), true, &records, &none);
  for (const Record& r : records) {
    if (r.kind != FFRTMP_REPORT_EXEC) continue;
    ReapBlocking(keeperPidfd);  // it exits right after telling us
    *fail = {r.err, "execve", true,
             static_cast<size_t>(r.index) < candidates.size() ? candidates[r.index] : ""};
    return false;
  }
  return true;
}

namespace {
int TrivialChildMain(void*) { return 0; }
}  // namespace

int SpawnTrivialChild() {
  // vfork-style first: CLONE_VM | CLONE_VFORK shares our memory (no copy of the page tables,
  // which for a Node process of ~50 MB is most of a fork's cost: milliseconds on every start,
  // since the probe runs once per process), runs TrivialChildMain on a small stack of ours and
  // exits at once; we are suspended until it has. Every signal is blocked across the clone so
  // no inherited handler ever runs in the child (it shares our memory); the child never
  // unblocks them. Same technique as glibc's posix_spawn.
  {
    alignas(16) char stack[16384];
    int pidfd = -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = clone(TrivialChildMain, stack + sizeof stack, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, nullptr,
                  &pidfd);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (r > 0 && pidfd >= 0) return pidfd;
    // r > 0 without a pidfd cannot happen (CLONE_PIDFD is honoured or clone fails with
    // EINVAL); on any failure fall through to the fork-style path below.
  }
  int pidfd = -1, err = 0;
  bool viaFork = false;
  const char* sc = nullptr;
  if (CloneWithPidfd(-1, nullptr, &pidfd, &viaFork, &err, &sc) < 0) return -err;
  return pidfd;
}

}  // namespace ffrtmp
