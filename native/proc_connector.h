// The netlink process connector (cn_proc): exec events, drained on the environment's
// watcher thread, filtered by /proc/<pid>/comm in C, candidates handed to JS in one batch
// per drain. At most one open connector per addon instance. See docs/native.md.
#pragma once

#include <napi.h>

#include <cstdint>
#include <mutex>
#include <string>
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

  ProcConnector() = default;
  ~ProcConnector();
  ProcConnector(const ProcConnector&) = delete;
  ProcConnector& operator=(const ProcConnector&) = delete;

  // JS thread. `targets`: comm names (compared on their first 15 bytes); empty = every exec.
  // Throws ErrnoError (socket, bind, sendto, poll, recv, proc_connector_ack, epoll_ctl) or
  // EBUSY (syscall procEventsOpen) when one is already open.
  Opened Open(Napi::Env env, ExitWatcher& watcher, std::vector<std::string> targets,
              int rcvbufBytes, bool kernelFilter, Napi::Function onBatch);
  void Close(uint32_t id);  // idempotent; unknown ids are ignored
  bool SetTargets(uint32_t id, std::vector<std::string> targets);  // false: not open

  void OnReadable() override;  // the watcher thread

 private:
  struct Exec {
    int32_t pid;
    uint64_t timestampNs;
    char comm[16];
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

  // Guarded by mu_: the JS thread opens, closes and swaps targets; the watcher thread drains
  // (only while fd_ is open). The JS thread may read id_ without it: it is id_'s only writer.
  std::mutex mu_;
  int fd_ = -1;
  uint32_t id_ = 0;  // of the open connector; 0 = none
  std::vector<std::string> targets_;
  uint64_t pendingReceived_ = 0, pendingFiltered_ = 0;  // since the last batch sent
  Tsfn tsfn_;
  ExitWatcher* watcher_ = nullptr;
  uint32_t lastId_ = 0;  // JS thread only
};

}  // namespace ffrtmp
