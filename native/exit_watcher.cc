#include "exit_watcher.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "errno_error.h"

namespace ffrtmp {

namespace {

// epoll_event.data carries (fd << 32 | token): the thread needs no lock or map lookup,
// and CallJs can drop events of an fd that was unwatched (or closed and reused) while
// the batch was in flight. A watched fd is >= 0, so the top bit is never set and
// all-ones cannot collide with it.
constexpr uint64_t kStopKey = ~0ULL;
constexpr uint64_t kSourceKey = ~0ULL - 1;  // the ThreadSource (process connector)
constexpr int kMaxEvents = 64;

uint64_t Key(int fd, uint32_t token) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(fd)) << 32) | token;
}

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

constexpr uint32_t kSourceEvents = EPOLLIN | EPOLLONESHOT;

double RealtimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

}  // namespace

ExitWatcher::~ExitWatcher() {
  // Normally the TSFN finalizer has joined the thread already (env teardown finalizes
  // every TSFN before the instance data that owns us). This is the belt to that brace:
  // a joinable std::thread in a destructor would std::terminate().
  StopAndJoin();
}

void ExitWatcher::EnsureEpoll(Napi::Env env) {
  if (epfd_.valid()) return;
  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid()) throw ErrnoError(env, errno, "epoll_create1");
  UniqueFd ev(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!ev.valid()) throw ErrnoError(env, errno, "eventfd");
  epoll_event e{};
  e.events = EPOLLIN;  // level-triggered: once asked to stop, it stays asked
  e.data.u64 = kStopKey;
  if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, ev.get(), &e) != 0)
    throw ErrnoError(env, errno, "epoll_ctl");
  epfd_ = std::move(ep);
  evfd_ = std::move(ev);
}

void ExitWatcher::Start(Napi::Env env, Napi::Function onEvent) {
  if (started_) throw Napi::Error::New(env, "watcherStart: the watcher is already started");
  EnsureEpoll(env);
  // initialThreadCount 1 belongs to the watcher thread and is never released: the TSFN
  // lives as long as the environment, and env teardown finalizes it. The finalizer runs
  // on the JS thread before the TSFN memory is freed, so joining there guarantees the
  // thread is gone before anything it might touch disappears.
  tsfn_ = Tsfn::New(env, onEvent, "ffrtmp:exit-watcher", 0 /* unlimited queue */, 1, this,
                    [](Napi::Env, void*, ExitWatcher* self) { self->StopAndJoin(); });
  // Idle must not keep the process alive: Ref only while something is watched.
  tsfn_.Unref(env);
  refed_ = false;

  // Process-directed signals (SIGINT, SIGCHLD, ...) must go to Node's own threads, not
  // interrupt ours: the thread starts with every signal blocked (it inherits this mask).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    tsfn_.Abort();
    throw ErrnoError(env, EAGAIN, "pthread_create");
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  started_ = true;
  UpdateRef(env);  // fds may have been watched before the start
}

void ExitWatcher::UpdateRef(Napi::Env env) {
  if (!started_) return;
  bool want = !watched_.empty();
  if (want == refed_) return;
  if (want)
    tsfn_.Ref(env);
  else
    tsfn_.Unref(env);
  refed_ = want;
}

void ExitWatcher::Watch(Napi::Env env, int fd, uint32_t token) {
  EnsureEpoll(env);
  epoll_event e{};
  // Edge-triggered: a pidfd stays readable forever after the exit; level-triggered would
  // make epoll_wait return in a loop. ET reports each change once: EPOLLIN at exit, then
  // EPOLLIN|EPOLLHUP at reap. Adding an already-exited pidfd reports at once (the kernel
  // polls the file on insert).
  e.events = EPOLLIN | EPOLLET;
  e.data.u64 = Key(fd, token);
  if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &e) != 0) throw ErrnoError(env, errno, "epoll_ctl");
  watched_[fd] = token;
  UpdateRef(env);
}

void ExitWatcher::Unwatch(Napi::Env env, int fd) {
  auto it = watched_.find(fd);
  if (it == watched_.end()) return;
  // ENOENT/EBADF: the fd was closed (closing the last reference removes it from every
  // epoll set); the bookkeeping below is what matters.
  if (epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0 && errno != ENOENT &&
      errno != EBADF) {
    throw ErrnoError(env, errno, "epoll_ctl");
  }
  watched_.erase(it);
  UpdateRef(env);
}

void ExitWatcher::AddSource(Napi::Env env, int fd, ThreadSource* src) {
  EnsureEpoll(env);
  if (source_.load() != nullptr) throw ErrnoError(env, EBUSY, "epoll_ctl");
  source_.store(src);
  epoll_event e{};
  e.events = kSourceEvents;  // armed: the first readiness is reported, then it re-arms itself
  e.data.u64 = kSourceKey;
  if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &e) != 0) {
    int err = errno;
    source_.store(nullptr);
    throw ErrnoError(env, err, "epoll_ctl");
  }
}

bool ExitWatcher::ArmSource(int fd) {
  epoll_event e{};
  e.events = kSourceEvents;
  e.data.u64 = kSourceKey;
  return epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &e) == 0;
}

void ExitWatcher::RemoveSource(int fd) {
  if (epfd_.valid()) epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  source_.store(nullptr);
}

void ExitWatcher::StopAndJoin() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  // EAGAIN (counter full) still leaves the eventfd readable, which is all we need.
  while (write(evfd_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  thread_.join();
}

void ExitWatcher::Run() {
  pthread_setname_np(pthread_self(), "ffrtmp-watcher");  // visible in top -H, /proc/*/task
  epoll_event evs[kMaxEvents];
  // When the source asked to be called back without readiness (its hold-off: see
  // proc_connector.cc), CLOCK_MONOTONIC ns; 0 = never. Only this thread reads or writes it.
  int64_t deadline = 0;
  for (;;) {
    int timeout = -1;  // nothing to time: sleep until an fd is ready (no idle wake-ups)
    if (deadline != 0) {
      int64_t left = deadline - MonotonicNs();
      // Rounded up: a wait that ends early would only come round again for the remainder.
      timeout = left <= 0 ? 0 : static_cast<int>((left + 999999) / 1000000);
    }
    int n = epoll_wait(epfd_.get(), evs, kMaxEvents, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EBADF/EINVAL cannot happen while we own epfd_; nothing to report to
    }
    Batch* batch = nullptr;  // only when a pidfd reported something
    bool stop = false, source = false;
    for (int i = 0; i < n; i++) {
      uint64_t key = evs[i].data.u64;
      if (key == kStopKey) {
        stop = true;
        continue;
      }
      if (key == kSourceKey) {
        source = true;
        continue;
      }
      if (batch == nullptr) {
        batch = new Batch{RealtimeMs(), {}};
        batch->events.reserve(static_cast<size_t>(n));
      }
      batch->events.push_back(
          Event{static_cast<int>(key >> 32), static_cast<uint32_t>(key), evs[i].events});
    }
    // After the stop signal the TSFN may already be finalizing: never touch it again.
    if (stop) {
      delete batch;
      return;
    }
    // Exits first: they never wait behind a drain of the source.
    if (batch != nullptr) {
      napi_status st = tsfn_.NonBlockingCall(batch);
      if (st != napi_ok) {
        delete batch;                    // not queued: still ours
        if (st == napi_closing) return;  // env is going away
      }
    }
    ThreadSource* src = source_.load();
    if (src == nullptr) {
      deadline = 0;
    } else if (source) {
      deadline = src->OnReady(true, MonotonicNs());  // has its own TSFN
    } else if (deadline != 0) {
      int64_t t = MonotonicNs();
      if (t >= deadline) deadline = src->OnReady(false, t);
    }
  }
}

void ExitWatcher::CallJs(Napi::Env env, Napi::Function cb, ExitWatcher* self, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);  // freed on every path, env or not
  if (env == nullptr || cb.IsEmpty() || self == nullptr) return;
  for (const Event& ev : owned->events) {
    // Drop events of an fd unwatched after epoll_wait returned (or closed and reused
    // with another token): after unwatch() returns, no event for it reaches JS.
    auto it = self->watched_.find(ev.fd);
    if (it == self->watched_.end() || it->second != ev.token) continue;
    try {
      cb.Call({Napi::Number::New(env, ev.token), Napi::Number::New(env, ev.events),
               Napi::Number::New(env, owned->detectedAtMs)});
    } catch (const Napi::Error& e) {
      // Each event is its own callback, like a timer's: a throw becomes an
      // 'uncaughtException' (or exit 1 without handler) and the rest of the batch is
      // still delivered. Not napi_throw: an exception left pending in a TSFN callback
      // is only a DEP0168 warning under Node's default policy, i.e. swallowed.
      napi_fatal_exception(env, e.Value());
    }
  }
}

}  // namespace ffrtmp
