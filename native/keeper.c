/*
 * ffrtmp-keeper: the workload's parent, so that its exit status outlives the wrapper.
 *
 *     ffrtmp-keeper <job-id> -- <command> [args...]      (started by ffrtmp only)
 *
 * What it does, in order (docs/native.md "keeper"):
 *   1. takes its socket and exit-file path from the environment and removes them from it;
 *   2. ignores every signal that would stop or end it (it reacts to none: the workload's fate
 *      is the workload's business), and lowers its own oom_score_adj as far as it may, so the
 *      OOM killer of the job's memory cgroup never picks it instead of the workload;
 *   3. forks the workload's process: default signal state, the original oom_score_adj; it is held
 *      before its exec, waiting on the socket for the wrapper's go;
 *   4. sends the wrapper its pid and pidfd (SCM_RIGHTS) and lets go of the socket. The go comes
 *      once the job's `started` record is written: no workload runs without a record. If the
 *      wrapper dies first, nothing starts, and the exit file says so (started: false; exit 127);
 *   5. on the go the child execs with execvp's PATH search (the wrapper computed the same candidate
 *      list, so an error's index names the same path there); an exec error goes to the wrapper
 *      (from the child itself) and the keeper exits 127. Once it runs, the keeper puts /dev/null on
 *      its fds 0-2 and leaves the working directory: it holds nothing of anyone's;
 *   6. wait4()s for its one child, then writes the exit file durably (temp file, fsync, rename,
 *      fsync the directory) and exits 0 (74 when the file could not be written).
 *
 * It never signals, restarts or outlives the workload. Single-threaded, no heap: every buffer
 * is static or on the stack, and only system calls are made (async-signal-safe throughout).
 *
 * Exit file, one JSON object on one line (every field always present):
 *   {"v":1,"job_id":"<id>","pid":<workload>,"keeper_pid":<pid>,"started":<bool>,
 *    "exit_code":<int|null>,"signal":<int|null>,"core_dumped":<bool>,
 *    "ended_at_us":<CLOCK_REALTIME µs>,"utime_us":<int>,"stime_us":<int>,"maxrss_kb":<int>}
 * started: the workload exec'd. Then exit_code is set when it called exit(), signal (the number)
 * when a signal ended it. started=false: no go came (the wrapper died while starting the job), the
 * workload never ran; exit_code and signal are null.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h> /* rename(2) */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keeper_protocol.h"

#define FFRTMP_STR2(x) #x
#define FFRTMP_STR(x) FFRTMP_STR2(x)

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif

extern char** environ;

/* ---- small helpers (no libc formatting: snprintf is not async-signal-safe) ---------------- */

static size_t str_len(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') n++;
  return n;
}

static int starts_with(const char* s, const char* prefix) {
  while (*prefix != '\0')
    if (*s++ != *prefix++) return 0;
  return 1;
}

/* A bounded string builder over a caller's buffer; `ok` drops to 0 on overflow. */
struct buf {
  char* p;
  size_t len, cap;
  int ok;
};

static void put_mem(struct buf* b, const char* s, size_t n) {
  if (!b->ok || n > b->cap - b->len) {
    b->ok = 0;
    return;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void put_str(struct buf* b, const char* s) { put_mem(b, s, str_len(s)); }

static void put_u64(struct buf* b, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  char out[20];
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  put_mem(b, out, n);
}

static void put_i64(struct buf* b, int64_t v) {
  if (v < 0) {
    put_mem(b, "-", 1);
    put_u64(b, (uint64_t)(-(v + 1)) + 1);
  } else {
    put_u64(b, (uint64_t)v);
  }
}

static int parse_fd(const char* s) {
  if (*s == '\0') return -1;
  long v = 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
    if (v > INT_MAX) return -1;
  }
  return (int)v;
}

static void write_all(int fd, const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static void say(const char* s) { write_all(2, s, str_len(s)); }

/* ---- the conversation with the wrapper ----------------------------------------------------- */

static int sock = -1;

static void report(int32_t kind, int32_t index, int32_t err, int32_t pid, int fd_to_pass) {
  if (sock < 0) return;
  struct ffrtmp_report r = {kind, index, err, pid};
  struct iovec iov = {&r, sizeof r};
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } ctl;
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (fd_to_pass >= 0) {
    memset(&ctl, 0, sizeof ctl);
    m.msg_control = ctl.space;
    m.msg_controllen = sizeof ctl.space;
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
  }
  /* A wrapper that died meanwhile is not our concern: MSG_NOSIGNAL, errors ignored. */
  while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

/* ---- signals ------------------------------------------------------------------------------ */

/* Faults raised by our own code must still kill us (ignoring them is undefined). */
static int is_fault(int s) {
  return s == SIGSEGV || s == SIGBUS || s == SIGFPE || s == SIGILL || s == SIGSYS || s == SIGTRAP ||
         s == SIGABRT;
}

static void ignore_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  /* Never SIGCHLD: an ignored SIGCHLD makes the kernel reap the child itself (no status). */
  for (int s = 1; s < NSIG; s++)
    if (s != SIGCHLD && !is_fault(s)) sigaction(s, &sa, NULL);
}

static void default_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int s = 1; s < NSIG; s++) sigaction(s, &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ---- oom_score_adj ------------------------------------------------------------------------- */

static char oom_original[16];
static ssize_t oom_original_len = -1;

static void oom_protect_self(void) {
  int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n;
  do n = read(fd, oom_original, sizeof oom_original);
  while (n < 0 && errno == EINTR);
  if (n > 0 && n < (ssize_t)sizeof oom_original) {
    oom_original_len = n;
    /* OOM_SCORE_ADJ_MIN. Unprivileged, the kernel refuses to go below oom_score_adj_min
     * (EACCES): we stay where we were, which is the lowest we may be. */
    if (lseek(fd, 0, SEEK_SET) == 0) write_all(fd, "-1000", 5);
  }
  close(fd);
}

static void oom_restore_in_child(void) {
  if (oom_original_len <= 0) return;
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  write_all(fd, oom_original, (size_t)oom_original_len);
  close(fd);
}

/* ---- the workload ------------------------------------------------------------------------- */

/* execvp's PATH search, written out so that the wrapper (src/observer/command-path.ts) computes
 * the very same candidate list: a command with a slash is itself; otherwise each PATH entry
 * (default /bin:/usr/bin) joined with "/", an empty entry meaning the command as it is. The rules
 * of glibc's execvpe: ENOENT/ENOTDIR/ESTALE/ENODEV/ETIMEDOUT try the next candidate, EACCES is
 * remembered and reported if nothing runs, anything else stops; no /bin/sh retry on ENOEXEC. */
static char candidate[PATH_MAX];

__attribute__((noreturn)) static void exec_workload(char** argv, int report_fd) {
  const char* cmd = argv[0];
  size_t cmd_len = str_len(cmd);
  int32_t eacces_index = -1, last_index = 0, last_err = ENOENT;
  int has_slash = 0;
  for (const char* c = cmd; *c != '\0'; c++)
    if (*c == '/') has_slash = 1;
  struct ffrtmp_report r = {FFRTMP_REPORT_EXEC, 0, 0, 0};

  if (has_slash) {
    execve(cmd, argv, environ);
    r.err = errno;
  } else {
    const char* path = "/bin:/usr/bin";
    for (char** e = environ; *e != NULL; e++)
      if (starts_with(*e, "PATH=")) {
        path = *e + 5;
        break;
      }
    int32_t index = 0;
    for (const char* p = path;; index++) {
      const char* end = p;
      while (*end != '\0' && *end != ':') end++;
      size_t dir_len = (size_t)(end - p);
      int e;
      if (dir_len + (dir_len > 0) + cmd_len + 1 > sizeof candidate) {
        e = ENAMETOOLONG; /* what the kernel would say for a path this long */
      } else {
        memcpy(candidate, p, dir_len);
        size_t at = dir_len;
        if (dir_len > 0) candidate[at++] = '/';
        memcpy(candidate + at, cmd, cmd_len + 1);
        execve(candidate, argv, environ);
        e = errno;
      }
      last_err = e;
      last_index = index;
      if (e == EACCES) {
        if (eacces_index < 0) eacces_index = index;
      } else if (!(e == ENOENT || e == ENOTDIR || e == ESTALE || e == ENODEV || e == ETIMEDOUT)) {
        break;
      }
      if (*end == '\0') break;
      p = end + 1;
    }
    if (eacces_index >= 0 && (last_err == EACCES || last_err == ENOENT || last_err == ENOTDIR ||
                              last_err == ESTALE || last_err == ENODEV || last_err == ETIMEDOUT)) {
      r.index = eacces_index;
      r.err = EACCES;
    } else {
      r.index = last_index;
      r.err = last_err;
    }
  }
  /* To the wrapper directly (one datagram on the socket, which this process holds until its exec)
   * and to the keeper (the pipe), which then writes no exit file. */
  r.pid = (int32_t)getpid();
  while (send(sock, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
  write_all(report_fd, (const char*)&r, sizeof r);
  _exit(FFRTMP_KEEPER_EXIT_NOT_STARTED);
}

/* ---- the exit file ------------------------------------------------------------------------ */

static char tmp_path[PATH_MAX];
static char dir_path[PATH_MAX];
static char line[1024];

/* started = 0: the workload never exec'd (no go came): no status, the fields are null/zero. */
static int write_exit_file(const char* path, const char* job_id, pid_t pid, int started, int status,
                           const struct rusage* ru, const struct timespec* ended) {
  size_t plen = str_len(path);
  if (plen + 5 > sizeof tmp_path) return ENAMETOOLONG;
  memcpy(tmp_path, path, plen);
  memcpy(tmp_path + plen, ".tmp", 5);
  size_t slash = plen;
  while (slash > 0 && path[slash - 1] != '/') slash--;
  if (slash == 0) {
    memcpy(dir_path, ".", 2);
  } else {
    size_t dlen = slash > 1 ? slash - 1 : 1; /* keep "/" for a file at the root */
    memcpy(dir_path, path, dlen);
    dir_path[dlen] = '\0';
  }

  struct buf b = {line, 0, sizeof line, 1};
  put_str(&b, "{\"v\":1,\"job_id\":\"");
  put_str(&b, job_id); /* job ids are [A-Za-z0-9._:@+-]: nothing to escape (checked in main) */
  put_str(&b, "\",\"pid\":");
  put_i64(&b, pid);
  put_str(&b, ",\"keeper_pid\":");
  put_i64(&b, getpid());
  put_str(&b, started ? ",\"started\":true" : ",\"started\":false");
  if (!started) {
    put_str(&b, ",\"exit_code\":null,\"signal\":null,\"core_dumped\":false");
  } else if (WIFEXITED(status)) {
    put_str(&b, ",\"exit_code\":");
    put_i64(&b, WEXITSTATUS(status));
    put_str(&b, ",\"signal\":null,\"core_dumped\":false");
  } else {
    put_str(&b, ",\"exit_code\":null,\"signal\":");
    put_i64(&b, WTERMSIG(status));
    put_str(&b, WCOREDUMP(status) ? ",\"core_dumped\":true" : ",\"core_dumped\":false");
  }
  put_str(&b, ",\"ended_at_us\":");
  put_u64(&b, (uint64_t)ended->tv_sec * 1000000u + (uint64_t)ended->tv_nsec / 1000u);
  put_str(&b, ",\"utime_us\":");
  put_u64(&b, (uint64_t)ru->ru_utime.tv_sec * 1000000u + (uint64_t)ru->ru_utime.tv_usec);
  put_str(&b, ",\"stime_us\":");
  put_u64(&b, (uint64_t)ru->ru_stime.tv_sec * 1000000u + (uint64_t)ru->ru_stime.tv_usec);
  put_str(&b, ",\"maxrss_kb\":");
  put_i64(&b, ru->ru_maxrss);
  put_str(&b, "}\n");
  if (!b.ok) return ENAMETOOLONG;

  int fd;
  do fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno;
  size_t off = 0;
  while (off < b.len) {
    ssize_t w = write(fd, line + off, b.len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = w < 0 ? errno : EIO;
      close(fd);
      unlink(tmp_path);
      return e;
    }
    off += (size_t)w;
  }
  if (fsync(fd) < 0) {
    int e = errno;
    close(fd);
    unlink(tmp_path);
    return e;
  }
  close(fd);
  if (rename(tmp_path, path) < 0) {
    int e = errno;
    unlink(tmp_path);
    return e;
  }
  int dfd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno;
  int e = fsync(dfd) < 0 ? errno : 0;
  close(dfd);
  return e;
}

/* ---- main --------------------------------------------------------------------------------- */

static int valid_job_id(const char* s) {
  if (*s == '\0' || *s == '.' || *s == '-') return 0;
  size_t n = 0;
  for (; *s != '\0'; s++, n++) {
    char c = *s;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
             c == '_' || c == '-' || c == ':' || c == '@' || c == '+';
    if (!ok) return 0;
  }
  return n <= 128;
}

/* Takes NAME=value out of the environment (in place: the pointer array is ours to compact). */
static const char* take_env(const char* name) {
  size_t n = str_len(name);
  const char* value = NULL;
  char** w = environ;
  for (char** r = environ; *r != NULL; r++) {
    if (starts_with(*r, name) && (*r)[n] == '=') {
      value = *r + n + 1;
      continue;
    }
    *w++ = *r;
  }
  *w = NULL;
  return value;
}

static void stdio_to_null(void) {
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int i = 0; i <= 2; i++) {
    if (fd >= 0 && fd != i) dup2(fd, i); /* dup2'd copies are not close-on-exec, and we never exec */
    else if (fd < 0) close(i);
  }
  if (fd > 2) close(fd);
}

int main(int argc, char** argv) {
  if (argc == 2 && (strcmp(argv[1], "--version") == 0)) {
    say(FFRTMP_KEEPER_NAME " protocol " FFRTMP_STR(FFRTMP_KEEPER_PROTOCOL) "\n");
    return 0;
  }
  const char* fd_s = take_env(FFRTMP_KEEPER_FD_ENV);
  const char* exit_path = take_env(FFRTMP_KEEPER_EXIT_ENV);
  sock = fd_s != NULL ? parse_fd(fd_s) : -1;
  if (sock >= 0 && fcntl(sock, F_SETFD, FD_CLOEXEC) < 0) sock = -1;
  if (sock < 0 || exit_path == NULL || exit_path[0] != '/' || argc < 4 || strcmp(argv[2], "--") != 0 ||
      !valid_job_id(argv[1])) {
    report(FFRTMP_REPORT_KEEPER_SETUP, FFRTMP_KEEPER_STAGE_ARGS, EINVAL, 0, -1);
    say(FFRTMP_KEEPER_NAME ": started by `ffrtmp run` only (usage: " FFRTMP_KEEPER_NAME
        " <job-id> -- <command> [args...], with " FFRTMP_KEEPER_FD_ENV " and " FFRTMP_KEEPER_EXIT_ENV ")\n");
    return FFRTMP_KEEPER_EXIT_USAGE;
  }
  const char* job_id = argv[1];
  char** workload = argv + 3;

  ignore_signals();
  oom_protect_self();

  /* p: what became of the workload's process, from the process itself: an exec error, or that no
   * go came (CLOEXEC: EOF with nothing said means it exec'd). */
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    report(FFRTMP_REPORT_KEEPER_SETUP, FFRTMP_KEEPER_STAGE_PIPE, errno, 0, -1);
    return FFRTMP_KEEPER_EXIT_SETUP;
  }
  pid_t pid = fork();
  if (pid < 0) {
    report(FFRTMP_REPORT_KEEPER_SETUP, FFRTMP_KEEPER_STAGE_FORK, errno, 0, -1);
    return FFRTMP_KEEPER_EXIT_SETUP;
  }
  if (pid == 0) {
    default_signals();
    oom_restore_in_child();
    close(p[0]);
    /* Held before its exec until the wrapper's go, which it receives itself (the keeper has let
     * go of the socket by then). EOF (the wrapper died before recording the job, or chose not to
     * start it) means nobody would record this workload's end: it never starts. */
    struct ffrtmp_report go;
    ssize_t n;
    do n = recv(sock, &go, sizeof go, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof go || go.kind != FFRTMP_REPORT_GO) {
      struct ffrtmp_report no = {FFRTMP_REPORT_NOT_STARTED, 0, 0, 0};
      write_all(p[1], (const char*)&no, sizeof no);
      _exit(FFRTMP_KEEPER_EXIT_NOT_STARTED);
    }
    exec_workload(workload, p[1]);
  }
  close(p[1]);

  /* Race-free: only we can reap our child, and we have not. */
  int status = 0;
  struct rusage ru;
  int pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
  report(FFRTMP_REPORT_STARTED, 0, pidfd < 0 ? errno : 0, pid, pidfd);
  if (pidfd >= 0) close(pidfd);
  /* The rest of the conversation is between the wrapper and the workload's process: the go, then
   * an exec error or the EOF of its exec. */
  close(sock);
  sock = -1;

  struct ffrtmp_report r;
  size_t have = 0;
  for (;;) {
    ssize_t n = read(p[0], (char*)&r + have, sizeof r - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += (size_t)n;
    if (have == sizeof r) break;
  }
  close(p[0]);
  if (have == sizeof r && (r.kind == FFRTMP_REPORT_EXEC || r.kind == FFRTMP_REPORT_NOT_STARTED)) {
    stdio_to_null();
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    if (r.kind == FFRTMP_REPORT_EXEC) return FFRTMP_KEEPER_EXIT_NOT_STARTED; /* the wrapper has its error */
    /* The job may be recorded (the wrapper died after its started record, before its go): say,
     * durably, that the workload never ran, so that its Result says so instead of "unobserved". */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    memset(&ru, 0, sizeof ru);
    write_exit_file(exit_path, job_id, pid, 0, 0, &ru, &now);
    return FFRTMP_KEEPER_EXIT_NOT_STARTED;
  }

  stdio_to_null();
  if (chdir("/") < 0) {
    /* stay: the exit file path is absolute */
  }

  pid_t w;
  do w = wait4(pid, &status, 0, &ru);
  while (w < 0 && errno == EINTR);
  struct timespec ended;
  clock_gettime(CLOCK_REALTIME, &ended);
  if (w != pid) return FFRTMP_KEEPER_EXIT_NOT_WRITTEN;
  return write_exit_file(exit_path, job_id, pid, 1, status, &ru, &ended) == 0 ? FFRTMP_KEEPER_EXIT_RECORDED
                                                                          : FFRTMP_KEEPER_EXIT_NOT_WRITTEN;
}
