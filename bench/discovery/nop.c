/*
 * The cheapest possible exec for bench/discovery's paced storm: a static binary with no libc
 * that exits 0 at once (an exec of /bin/true costs ~3 ms on a small VM, too slow to reach 1,000/s).
 * Built with `cc -O2 -static -nostdlib`.
 */
#if defined(__x86_64__)
void _start(void) {
  __asm__ volatile("mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall" ::: "memory");
  for (;;) {
  }
}
#elif defined(__aarch64__)
void _start(void) {
  __asm__ volatile("mov x0, #0\n\tmov x8, #93\n\tsvc #0" ::: "memory", "x0", "x8");
  for (;;) {
  }
}
#else
#error "nop.c: x86_64 or aarch64 only (run.js falls back to /bin/true)"
#endif
