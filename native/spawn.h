// Process creation with a pidfd from birth (clone3) or, on kernels/sandboxes without
// clone3, fork + pidfd_open. See docs/native.md "spawn".
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ffrtmp {

struct SpawnRequest {
  std::vector<std::string> candidates;
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  bool hasCwd = false;
  std::string cwd;
  int cgroupFd = -1;
  std::vector<std::string> cgroupProcsPaths;
  // Start through ffrtmp-keeper (native/keeper.c): the child execs keeperPath, which forks
  // the workload and tells us about it over a socketpair (native/keeper_protocol.h).
  bool keeper = false;
  std::string keeperPath;
  std::string keeperJobId;
  std::string keeperExitFile;
};

struct PlacementError {
  int index;
  int err;
};

struct SpawnResult {
  // The workload. pidfd is -1 only under a keeper whose pidfd_open failed (pidfdErr).
  pid_t pid = -1;
  int pidfd = -1;
  int pidfdErr = 0;
  // The keeper (our child) when there is one, else -1.
  pid_t keeperPid = -1;
  int keeperPidfd = -1;
  // Under a keeper: the socket it waits on, with the workload held before its exec, until
  // KeeperGo. Closing it instead means: never start.
  int controlFd = -1;
  bool viaFork = false;
  bool intoCgroup = false;
  std::vector<PlacementError> placementErrors;
};

// Failure: errno as data, for the JS-side SystemError.
struct SpawnFailure {
  int err;
  const char* syscall;
  bool hasPath;
  std::string path;
};

// Returns true and fills `out`, or false and fills `fail`. Never throws: runs on the JS
// thread but knows nothing about N-API.
bool Spawn(const SpawnRequest& req, SpawnResult* out, SpawnFailure* fail);

// Under a keeper, after Spawn: `start` tells it to exec the workload and waits for the outcome
// (an exec error comes back in `fail`, syscall "execve", path = the candidate, and the keeper is
// reaped); !start tells it never to start (the keeper exits and is reaped). Takes ownership of
// controlFd. Never throws.
bool KeeperGo(int controlFd, int keeperPidfd, const std::vector<std::string>& candidates, bool start, SpawnFailure* fail);

// Creates a child that immediately _exit(0)s, with a pidfd; used by the capability
// probe. Returns the pidfd (child not yet reaped) or -errno.
int SpawnTrivialChild();

}  // namespace ffrtmp
