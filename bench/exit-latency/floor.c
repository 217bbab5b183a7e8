/*
 * Exit-latency benchmark: the C floor (compiled by bench/exit-latency/run.js with `cc -O2`).
 *
 * The same kernel mechanism as the addon, with nothing above it: pidfd_open for each PID given on
 * stdin, one epoll set (EPOLLIN | EPOLLET), one thread blocked in epoll_wait(-1). It measures
 * what the kernel and the scheduler give under the machine's current load, in the same run as
 * the Node cells, so the JS path can be judged against it.
 *
 * stdin:  "pids <p1> <p2> ...\n"
 * stdout: "ready\n" once every pidfd is watched (from then on the process sits in epoll_wait(-1):
 *         the cell reads its context switches from /proc during the idle window); then, after
 *         every target's EPOLLIN: "res <pid> <detected_ns>\n" per target,
 *         "cpu <utime_us> <stime_us> <maxrss_kb>\n" (getrusage over the exit phase), "done\n".
 * Usage: floor <N>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <N>\n", argv[0]);
    return 2;
  }
  long n = strtol(argv[1], NULL, 10);
  pid_t *pids = calloc((size_t)n, sizeof *pids);
  int64_t *seen = calloc((size_t)n, sizeof *seen);
  if (!pids || !seen) return 1;
  char word[32];
  if (scanf("%31s", word) != 1 || strcmp(word, "pids") != 0) return 2;
  for (long i = 0; i < n; i++)
    if (scanf("%d", &pids[i]) != 1) return 2;

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return 1;
  for (long i = 0; i < n; i++) {
    int fd = (int)syscall(SYS_pidfd_open, pids[i], 0);
    if (fd < 0) {
      perror("floor: pidfd_open");
      return 1;
    }
    struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.u64 = (uint64_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
      perror("floor: epoll_ctl");
      return 1;
    }
  }
  printf("ready\n");
  fflush(stdout);

  struct epoll_event evs[64];
  struct rusage u0, u1;
  getrusage(RUSAGE_SELF, &u0);
  for (long left = n; left > 0;) {
    int k = epoll_wait(ep, evs, 64, -1);
    if (k < 0) {
      if (errno == EINTR) continue;
      perror("floor: epoll_wait");
      return 1;
    }
    int64_t t = now_ns();
    for (int j = 0; j < k; j++) {
      long i = (long)evs[j].data.u64;
      if ((evs[j].events & EPOLLIN) && seen[i] == 0) {
        seen[i] = t;
        left--;
      }
    }
  }
  getrusage(RUSAGE_SELF, &u1);
  for (long i = 0; i < n; i++) printf("res %d %lld\n", pids[i], (long long)seen[i]);
  printf("cpu %ld %ld %ld\n",
         (u1.ru_utime.tv_sec - u0.ru_utime.tv_sec) * 1000000L + (u1.ru_utime.tv_usec - u0.ru_utime.tv_usec),
         (u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) * 1000000L + (u1.ru_stime.tv_usec - u0.ru_stime.tv_usec),
         u1.ru_maxrss);
  printf("done\n");
  fflush(stdout);
  return 0;
}
