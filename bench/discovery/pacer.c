/*
 * A paced storm of short execs, for bench/discovery/run.js (compiled at bench time).
 *
 *   pacer <program> <per_batch> <batch_interval_ms> <duration_ms> [workers]
 *
 * Every <batch_interval_ms> (absolute CLOCK_MONOTONIC deadlines shared by all workers, so a late
 * batch does not shift the ones after it) <per_batch> copies of <program> are started with
 * posix_spawn (no arguments, stdio to /dev/null) and reaped, until <duration_ms> has passed. With
 * [workers] > 1 that many forked workers share each batch (one core spawns ~1,000 tiny processes
 * a second at best). One JSON line per worker on stdout: execs started, spawn failures, batches,
 * batches that overran their slot, wall time in ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void run(const char *prog, long per, long long t0, long long interval, long long duration) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  char *args[] = {(char *)prog, NULL};
  long long execs = 0, failed = 0, batches = 0, late = 0;
  for (long long next = t0; next - t0 < duration; next += interval) {
    struct timespec ts = {(time_t)(next / 1000000000LL), (long)(next % 1000000000LL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    long started = 0;
    for (long i = 0; i < per; i++) {
      pid_t pid;
      if (posix_spawn(&pid, prog, &fa, NULL, args, environ) == 0)
        started++;
      else
        failed++;
    }
    for (long i = 0; i < started; i++) {
      while (wait(NULL) < 0 && errno == EINTR) {
      }
    }
    execs += started;
    batches++;
    if (now_ns() > next + interval) late++;
  }
  printf("{\"execs\":%lld,\"failed\":%lld,\"batches\":%lld,\"late_batches\":%lld,\"wall_ms\":%.3f}\n", execs, failed,
         batches, late, (double)(now_ns() - t0) / 1e6);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: pacer <program> <per_batch> <batch_interval_ms> <duration_ms> [workers]\n");
    return 2;
  }
  const char *prog = argv[1];
  long per = atol(argv[2]);
  long long interval = atoll(argv[3]) * 1000000LL;
  long long duration = atoll(argv[4]) * 1000000LL;
  long workers = argc == 6 ? atol(argv[5]) : 1;
  if (workers < 1) workers = 1;
  long long t0 = now_ns() + 20000000LL;  // every worker forked before the first batch
  if (workers == 1) {
    run(prog, per, t0, interval, duration);
    return 0;
  }
  for (long w = 0; w < workers; w++) {
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      run(prog, per / workers + (w < per % workers ? 1 : 0), t0, interval, duration);
      _exit(0);
    }
  }
  for (long w = 0; w < workers; w++) {
    while (wait(NULL) < 0 && errno == EINTR) {
    }
  }
  return 0;
}
