// One epoll thread per addon instance (= per Node environment) reporting pidfd
// readiness to JS through a TypedThreadSafeFunction. See docs/native.md.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <unordered_map>
#include <vector>

#include "unique_fd.h"

namespace ffrtmp {

// Something other than a pidfd that the watcher thread serves itself: when its fd is
// readable, the thread calls OnReadable() (on the watcher thread, never the JS thread).
// The process connector (proc_connector.h) is the one user. The object must outlive
// the watcher thread (in practice: both are members of the environment's Addon).
class ThreadSource {
 public:
  virtual void OnReadable() = 0;

 protected:
  ~ThreadSource() = default;
};

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
  bool Started() const { return started_; }
  // One extra source (level-triggered). A second AddSource while one is set throws.
  // After RemoveSource returns the thread may still be inside src->OnReadable() (or about to
  // call it for an event it already has): the source guards its own state.
  void AddSource(Napi::Env env, int fd, ThreadSource* src);
  void RemoveSource(int fd);

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
  std::atomic<ThreadSource*> source_{nullptr};  // set on the JS thread, read by the thread
};

}  // namespace ffrtmp
