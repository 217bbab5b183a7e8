/*
 * The floor of the keeper's start-up overhead on this machine: what it costs a tiny process to
 * fork and exec a small static binary (the keeper itself, `--version`) and reap it, N times.
 * The keeper adds exactly one such process to a job's start, so its overhead is judged against
 * this, measured in the same run. Prints the median and p90 in ms as JSON.
 *
 *   floor <binary> <n>
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  int n = atoi(argv[2]);
  if (n <= 0) return 2;
  double* t = calloc((size_t)n, sizeof *t);
  int devnull = open("/dev/null", O_WRONLY);
  char* args[] = {argv[1], "--version", NULL};
  for (int i = 0; i < n; i++) {
    double a = now_ms();
    pid_t p = fork();
    if (p == 0) {
      dup2(devnull, 2);
      execv(argv[1], args);
      _exit(127);
    }
    int s;
    waitpid(p, &s, 0);
    t[i] = now_ms() - a;
  }
  qsort(t, (size_t)n, sizeof *t, cmp);
  printf("{\"n\":%d,\"p50\":%.3f,\"p90\":%.3f}\n", n, t[n / 2], t[(n * 9) / 10]);
  return 0;
}
