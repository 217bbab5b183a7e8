// One epoll thread per addon instance (= per Node environment) reporting pidfd
// readiness to JS through a TypedThreadSafeFunction. See docs/native.md.
#pragma once

#include <napi.h>

#include <cstdint>
#include <thread>
#include <unordered_map>
#include <vector>

#include "unique_fd.h"

namespace ffrtmp {

class ExitWatcher {
 public:
  ExitWatcher() = default;
  ~ExitWatcher();
  ExitWatcher(const ExitWatcher&) = delete;
  ExitWatcher& operator=(const ExitWatcher&) = delete;

  // All public methods run on the JS thread of the owning environment.
  void Start(Napi::Env env, Napi::Function onEvent);
  void Watch(Napi::Env env, int fd, uint32_t token);
  void Unwatch(Napi::Env env, int fd);
  size_t Count() const { return watched_.size(); }

 private:
  struct Event {
    int fd;
    uint32_t token;
    uint32_t events;
  };
  struct Batch {
    double detectedAtMs;
    std::vector<Event> events;
  };
  static void CallJs(Napi::Env env, Napi::Function cb, ExitWatcher* self, Batch* batch);
  using Tsfn = Napi::TypedThreadSafeFunction<ExitWatcher, Batch, CallJs>;

  void EnsureEpoll(Napi::Env env);
  void UpdateRef(Napi::Env env);
  void Run();            // the watcher thread
  void StopAndJoin();    // JS thread: wake the thread through the eventfd, join it

  UniqueFd epfd_;
  UniqueFd evfd_;        // written once to ask the thread to exit
  Tsfn tsfn_;
  bool started_ = false;
  bool refed_ = false;   // mirrors tsfn Ref/Unref so we never double-(un)ref
  std::thread thread_;
  // fd -> token of what is registered in epfd_. JS thread only: the watcher thread
  // reads the token from epoll_event.data and never looks here.
  std::unordered_map<int, uint32_t> watched_;
};

}  // namespace ffrtmp
