// The netlink process connector (cn_proc): exec events, drained on the environment's
// watcher thread (at once when the socket was quiet, every kHoldOffNs while events stream in),
// filtered by /proc/<pid>/comm in C, candidates handed to JS in one batch per drain, counters
// readable at any time. At most one open connector per addon instance. See docs/native.md.
#pragma once

#include <napi.h>

#include <cstdint>
#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "exit_watcher.h"

namespace ffrtmp {

class ProcConnector final : public ThreadSource {
 public:
  struct Opened {
    uint32_t id;
    bool kernelFilter;  // the 6.6+ in-kernel event filter (PROC_EVENT_EXEC) is set
    bool socketFilter;  // our classic BPF filter (exec datagrams only) is attached
    int rcvbufBytes;    // getsockopt(SO_RCVBUF): what the kernel granted
  };
  // Cumulative since Open (the connector's lifetime), whatever crossed to JS.
  struct Stats {
    uint64_t received;  // exec events read
    uint64_t filtered;  // of those, dropped by the comm filter (or already gone)
    uint64_t crossed;   // candidates handed to JS (in batches the TSFN accepted)
    uint64_t overruns;  // ENOBUFS: the kernel dropped events
    uint64_t drains;    // watcher-thread wake-ups for this socket (readiness or hold-off timer)
  };

  // The coalescing hold-off (Open's holdOffMs) when JS gives none: a drain that follows the
  // previous one by less than this leaves the socket disarmed, and the queue is drained again
  // this long after, until a timed drain finds no exec (then it is re-armed). So an exec after
  // a quiet spell is read at once, and one inside a stream waits at most this long. 5 ms: well
  // under the 10 ms added latency must stay under; 200 wake-ups/s at most, whatever the rate.
  static constexpr int kDefaultHoldOffMs = 5;

  ProcConnector() = default;
  ~ProcConnector();
  ProcConnector(const ProcConnector&) = delete;
  ProcConnector& operator=(const ProcConnector&) = delete;

  // JS thread. `targets`: comm names (compared on their first 15 bytes); empty = every exec.
  // `holdOffMs` >= 0: the coalescing hold-off (0: none, every drain re-arms at once).
  // Throws ErrnoError (socket, bind, sendto, poll, recv, proc_connector_ack, epoll_ctl) or
  // EBUSY (syscall procEventsOpen) when one is already open.
  Opened Open(Napi::Env env, ExitWatcher& watcher, std::vector<std::string> targets,
              int rcvbufBytes, bool kernelFilter, int holdOffMs, Napi::Function onBatch);
  void Close(uint32_t id);  // idempotent; unknown ids are ignored
  bool SetTargets(uint32_t id, std::vector<std::string> targets);  // false: not open
  bool GetStats(uint32_t id, Stats* out) const;  // JS thread; false: not open

  int64_t OnReady(bool fired, int64_t nowNs) override;  // the watcher thread

 private:
  struct Exec {
    int32_t pid;
    uint64_t timestampNs;
    char comm[16];
  };
  struct Seen {  // an exec read in the current drain, before the comm filter
    int32_t pid;
    uint64_t timestampNs;
    bool gone;  // its exit was read after it, in the same drain
  };
  struct Batch {
    uint32_t id;
    double detectedAtMs;
    std::vector<Exec> execs;
    uint64_t overruns, received, filtered;
    int err;  // 0, or the errno of a failed recv
  };
  static void CallJs(Napi::Env env, Napi::Function cb, ProcConnector* self, Batch* batch);
  using Tsfn = Napi::TypedThreadSafeFunction<ProcConnector, Batch, CallJs>;

  void CloseLocked(bool removeSource);  // mu_ held; sends IGNORE, closes, id_ = 0
  // mu_ held, the watcher thread: reads what is queued (up to kMaxPerDrain datagrams) into
  // `b`. Returns exec events + overruns + errors read: 0 means no exec came (exits may have).
  size_t DrainLocked(Batch* b);
  void SetExitEventsLocked(bool on);  // mu_ held: the kernel's mask, exec or exec + exit

  // Guarded by mu_: the JS thread opens, closes and swaps targets; the watcher thread drains
  // (only while fd_ is open). The JS thread may read id_ without it: it is id_'s only writer.
  std::mutex mu_;
  int fd_ = -1;
  uint32_t id_ = 0;  // of the open connector; 0 = none
  std::vector<std::string> targets_;
  std::vector<Seen> seen_;                           // the watcher thread: per drain, reused
  std::unordered_map<int32_t, uint32_t> lastExec_;  // pid -> index in seen_
  int procFd_ = -1;  // O_PATH of /proc: comm is opened relative to it (-1: absolute paths)
  uint64_t pendingReceived_ = 0, pendingFiltered_ = 0;  // since the last batch sent
  // Coalescing (the watcher thread, under mu_; reset by Open).
  int64_t holdOffNs_ = 0;
  bool armed_ = false;       // the fd is armed in the epoll set (EPOLLONESHOT)
  int64_t holdUntilNs_ = 0;  // disarmed, to be drained at this CLOCK_MONOTONIC ns; 0 = not
  int64_t lastDrainNs_ = 0;  // when the previous drain began
  bool pairExits_ = false;   // the kernel filters (6.6+): exits may be asked for in a hold-off
  bool exitEvents_ = false;  // they are asked for now
  // Written by the watcher thread (one writer), read by the JS thread; reset by Open.
  std::atomic<uint64_t> received_{0}, filtered_{0}, crossed_{0}, overruns_{0}, drains_{0};
  Tsfn tsfn_;
  ExitWatcher* watcher_ = nullptr;
  uint32_t lastId_ = 0;  // JS thread only
};

}  // namespace ffrtmp
