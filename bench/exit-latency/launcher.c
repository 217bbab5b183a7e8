/*
 * Exit-latency benchmark launcher (compiled by bench/exit-latency/run.js with `cc -O2`).
 *
 * The measuring Node process (cell.js) must adopt its targets with observer.attach(pid): they
 * must not be its children. This launcher is their parent instead. It
 *   1. forks N targets; each blocks in read(2) on a "go" pipe (idle, sleeping, no timers);
 *   2. prints "pids <p1> <p2> ...\n" and waits for a "go\n" line on stdin;
 *   3. on "go": base = CLOCK_REALTIME now + lead; closes the go pipe. Target i then sleeps until
 *      base + spread * i / N (clock_nanosleep TIMER_ABSTIME, CLOCK_REALTIME), stores
 *      CLOCK_REALTIME in shared memory (vDSO, no syscall) and calls _exit(2) right after;
 *   4. reaps every target as soon as it exits (blocking waitpid, like a prompt supervisor),
 *      noting CLOCK_REALTIME of each reap, because the pidfd backend resolves an adopted
 *      process's `exited` only at the reap (EPOLLHUP, when its exit status exists);
 *   5. prints "res <i> <pid> <exit_ns> <reap_ns> <wait_status>\n" per target, then "done\n".
 *
 * If stdin closes before "go" (the cell died), the targets are released at once and reaped.
 * Usage: launcher <N> <spread_ms> <lead_ms>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct slot {
  volatile int64_t exit_ns; /* written by target i just before _exit */
  int64_t reap_ns;          /* written by the launcher after waitpid */
  pid_t pid;
  int status;
};

struct shared {
  volatile int64_t base_ns; /* written by the launcher before the go pipe closes */
  struct slot slots[];
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s <N> <spread_ms> <lead_ms>\n", argv[0]);
    return 2;
  }
  long n = strtol(argv[1], NULL, 10);
  double spread_ms = strtod(argv[2], NULL);
  double lead_ms = strtod(argv[3], NULL);
  if (n < 1 || n > 100000 || spread_ms < 0 || lead_ms < 0) {
    fprintf(stderr, "launcher: bad arguments\n");
    return 2;
  }
  size_t size = sizeof(struct shared) + (size_t)n * sizeof(struct slot);
  struct shared *sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    perror("launcher: mmap");
    return 1;
  }
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) {
    perror("launcher: pipe2");
    return 1;
  }
  for (long i = 0; i < n; i++) {
    pid_t p = fork();
    if (p < 0) {
      perror("launcher: fork");
      for (long j = 0; j < i; j++) kill(sh->slots[j].pid, SIGKILL);
      return 1;
    }
    if (p == 0) {
      /* Target: no stdio (so the cell sees the launcher's stdout close with the launcher). */
      close(go[1]);
      close(0);
      close(1);
      char b;
      ssize_t r;
      while ((r = read(go[0], &b, 1)) < 0 && errno == EINTR) {
      }
      int64_t at = sh->base_ns + (n > 1 ? (int64_t)(spread_ms * 1e6 * (double)i / (double)n) : 0);
      struct timespec ts = {.tv_sec = at / 1000000000LL, .tv_nsec = at % 1000000000LL};
      while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR) {
      }
      sh->slots[i].exit_ns = now_ns();
      _exit((int)(i % 100));
    }
    sh->slots[i].pid = p;
  }
  close(go[0]);

  printf("pids");
  for (long i = 0; i < n; i++) printf(" %d", (int)sh->slots[i].pid);
  printf("\n");
  fflush(stdout);

  char line[64];
  int released_early = fgets(line, sizeof line, stdin) == NULL || strncmp(line, "go", 2) != 0;
  sh->base_ns = released_early ? 0 : now_ns() + (int64_t)(lead_ms * 1e6);
  __sync_synchronize();
  close(go[1]); /* every target's read returns 0 now */

  for (long reaped = 0; reaped < n;) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    int64_t t = now_ns();
    if (p < 0) {
      if (errno == EINTR) continue;
      perror("launcher: waitpid");
      break;
    }
    for (long i = 0; i < n; i++) {
      if (sh->slots[i].pid == p) {
        sh->slots[i].reap_ns = t;
        sh->slots[i].status = st;
        break;
      }
    }
    reaped++;
  }
  if (released_early) return 3;
  for (long i = 0; i < n; i++) {
    struct slot *s = &sh->slots[i];
    printf("res %ld %d %lld %lld %d\n", i, (int)s->pid, (long long)s->exit_ns, (long long)s->reap_ns,
           s->status);
  }
  printf("done\n");
  fflush(stdout);
  return 0;
}
