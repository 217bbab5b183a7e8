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

// Something other than a pidfd that the watcher thread serves itself (the process connector,
// proc_connector.h, is the one user). Its fd is registered EPOLLIN | EPOLLONESHOT: each
// readiness report disarms it, and the source re-arms it (ExitWatcher::ArmSource) when it wants
// the next one. Meanwhile it may ask to be called back at a deadline instead, which the thread
// folds into its epoll_wait timeout (pidfd events are still reported at once). Both calls run
// on the watcher thread, never the JS thread. The object must outlive the watcher thread (in
// practice: both are members of the environment's Addon).
class ThreadSource {
 public:
  // `fired`: the fd was reported ready (and is disarmed now); otherwise the deadline the
  // previous call returned has passed. `nowNs`: CLOCK_MONOTONIC. Returns the next deadline
  // (CLOCK_MONOTONIC ns) at which to be called without readiness, or 0 for none.
  virtual int64_t OnReady(bool fired, int64_t nowNs) = 0;

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
  // One extra source, registered armed (EPOLLIN | EPOLLONESHOT). A second AddSource while one
  // is set throws. After RemoveSource returns the thread may still be inside src->OnReady() (or
  // about to call it for an event or a deadline it already has): the source guards its own
  // state, and a deadline of a removed source may reach the next one (it ignores what it did
  // not ask for).
  void AddSource(Napi::Env env, int fd, ThreadSource* src);
  void RemoveSource(int fd);
  // The watcher thread, from inside src->OnReady(), with the source's own lock held and `fd`
  // still open (so it cannot be a reused number): report the fd's next readiness. A re-arm of
  // an fd that is ready already reports at once. False (errno set) when epoll_ctl failed.
  bool ArmSource(int fd);

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
