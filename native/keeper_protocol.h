/*
 * The wire between the addon's spawn (native/spawn.cc) and the keeper (native/keeper.c).
 * Plain C so both sides include the one definition. docs/native.md "keeper" describes the
 * sequence; the exit file format is in native/keeper.c.
 *
 * The addon's child (setsid, signals, cgroup, chdir done) execs the keeper as
 *
 *     ffrtmp-keeper <job-id> -- <command> [args...]
 *
 * with FFRTMP_KEEPER_FD=<fd of its end of a SOCK_SEQPACKET socketpair> and
 * FFRTMP_KEEPER_EXIT=<absolute path of the exit file> appended to the workload's environment
 * (the keeper removes both before it execs the workload).
 *
 * The conversation: the addon's child may report PLACEMENT errors (or CHDIR/SETSID/KEEPER_EXEC,
 * fatal); the keeper forks, says STARTED (pid + pidfd) and lets go of the socket, which its held
 * child now has alone; the wrapper records the job and says GO; the child answers EXEC (it could
 * not be executed), or its exec closes the last copy (EOF: it runs).
 *
 * Safe by construction: the held process execs only on an explicit go, so a keeper that dies at any
 * point before it (or a program that is no keeper) has started no workload, and the caller may
 * start it directly instead.
 *
 * Every message on the socket (and on the addon's CLOEXEC pipe when there is no keeper) is one
 * struct ffrtmp_report: a fixed 16 bytes, one write(2)/sendmsg(2) each, so it is atomic on a
 * pipe (< PIPE_BUF) and one datagram on the socket. EOF (every copy of the keeper's end closed)
 * ends the conversation.
 */
#ifndef FFRTMP_KEEPER_PROTOCOL_H
#define FFRTMP_KEEPER_PROTOCOL_H

#include <stdint.h>

#define FFRTMP_KEEPER_NAME "ffrtmp-keeper"
#define FFRTMP_KEEPER_FD_ENV "FFRTMP_KEEPER_FD"
#define FFRTMP_KEEPER_EXIT_ENV "FFRTMP_KEEPER_EXIT"
/* Bumped when the argv, the messages or the exit file change incompatibly. */
#define FFRTMP_KEEPER_PROTOCOL 1

enum ffrtmp_report_kind {
  /* The addon's child: writing cgroup.procs[index] failed (not fatal: the exec goes on). */
  FFRTMP_REPORT_PLACEMENT = 1,
  /* The addon's child: chdir failed (fatal). */
  FFRTMP_REPORT_CHDIR = 2,
  /* execve of the workload failed (fatal); index = the PATH candidate that decided it. */
  FFRTMP_REPORT_EXEC = 3,
  /* The addon's child: setsid failed (fatal). */
  FFRTMP_REPORT_SETSID = 4,
  /* The addon's child: execve of the keeper itself failed (fatal; the caller may go direct). */
  FFRTMP_REPORT_KEEPER_EXEC = 5,
  /* The keeper could not set up (fatal); index = one of enum ffrtmp_keeper_stage. */
  FFRTMP_REPORT_KEEPER_SETUP = 6,
  /*
   * The keeper: the workload's process exists and is held before its exec (waiting for GO on the
   * socket); pid = its pid. Carries its pidfd (SCM_RIGHTS) when err == 0; err = pidfd_open's
   * errno otherwise.
   */
  FFRTMP_REPORT_STARTED = 7,
  /*
   * The wrapper to the workload's held process, after STARTED: the job is recorded, exec. It
   * answers an exec error (EXEC), or its exec closes the socket's last copy (EOF: it runs).
   */
  FFRTMP_REPORT_GO = 9,
  /* Inside the keeper only (its child to it): no go came, the workload never ran. */
  FFRTMP_REPORT_NOT_STARTED = 10
};

enum ffrtmp_keeper_stage {
  FFRTMP_KEEPER_STAGE_ARGS = 1, /* bad argv/environment: a caller bug (err = EINVAL) */
  FFRTMP_KEEPER_STAGE_PIPE = 2, /* pipe2 */
  FFRTMP_KEEPER_STAGE_FORK = 3  /* fork */
};

struct ffrtmp_report {
  int32_t kind;
  int32_t index;
  int32_t err;
  int32_t pid;
};

/* The keeper's own exit status, as its parent (the wrapper) sees it. */
enum ffrtmp_keeper_exit {
  FFRTMP_KEEPER_EXIT_RECORDED = 0,   /* the exit file is written and durable */
  FFRTMP_KEEPER_EXIT_USAGE = 64,     /* not started by ffrtmp (EX_USAGE) */
  FFRTMP_KEEPER_EXIT_SETUP = 71,     /* pipe/fork failed: no workload (EX_OSERR) */
  FFRTMP_KEEPER_EXIT_NOT_WRITTEN = 74, /* the workload ended but the exit file could not be written (EX_IOERR) */
  FFRTMP_KEEPER_EXIT_NOT_STARTED = 127 /* no workload ran: its execve failed (no exit file), or no go came (exit file says started: false) */
};

#endif
