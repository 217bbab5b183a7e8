/*
 * Start-up benchmark timer (compiled by bench/startup/run.js with `cc -O2`).
 *
 * Usage: timeit <program> [args...]
 * Forks, execs the program (stdin /dev/null, stdout and stderr to /dev/null), waits for it with
 * wait4(2) and prints one line on stdout:
 *   <wall_ns> <user_us> <sys_us> <maxrss_kb> <wait_status>
 * wall: CLOCK_MONOTONIC from just before fork to just after wait4 returned (this timer's own
 * start-up is not in it); user/sys/maxrss: the child's rusage from wait4 (its own children,
 * e.g. ffrtmp-keeper and the workload, are included only where the child reaped them).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: timeit <program> [args...]\n");
    return 2;
  }
  int64_t t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    execvp(argv[1], argv + 1);
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) {
    perror("wait4");
    return 1;
  }
  int64_t wall = now_ns() - t0;
  printf("%lld %lld %lld %ld %d\n", (long long)wall,
         (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
         (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss, status);
  return 0;
}
