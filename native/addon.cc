// N-API entry point: argument shape checks, syscall wrappers, and the per-environment
// state (Napi::Addon instance data: no static globals, so worker threads each get
// their own watcher). Policy and validation live in TypeScript (src/native/).
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include <napi.h>

#include "errno_error.h"
#include "exit_watcher.h"
#include "pidfd_compat.h"
#include "proc_connector.h"
#include "spawn.h"
#include "unique_fd.h"

namespace ffrtmp {
namespace {

bool IsInt(const Napi::Value& v) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  return std::isfinite(d) && std::floor(d) == d;
}

int FdArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !IsInt(info[i])) ThrowUsage(info.Env(), usage);
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < -1 || d > 2147483647.0) ThrowUsage(info.Env(), usage);
  return static_cast<int>(d);
}

// A C string cannot carry NUL; refusing it here beats a silently truncated path.
bool CString(const Napi::Value& v, std::string* out) {
  if (!v.IsString()) return false;
  *out = v.As<Napi::String>().Utf8Value();
  return std::memchr(out->data(), '\0', out->size()) == nullptr;
}

bool StringArray(const Napi::Value& v, std::vector<std::string>* out) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  out->resize(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++)
    if (!CString(a.Get(i), &(*out)[i])) return false;
  return true;
}

// PIDFD_GET_INFO asking for `mask`. Returns 0 or errno.
int PidfdGetInfo(int fd, uint64_t mask, PidfdInfo* info) {
  std::memset(info, 0, sizeof *info);
  info->mask = mask;
  return ioctl(fd, kPidfdGetInfo, info) == 0 ? 0 : errno;
}

}  // namespace

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("pidfdOpen", &Addon::PidfdOpen, napi_enumerable),
        InstanceMethod("closeFd", &Addon::CloseFd, napi_enumerable),
        InstanceMethod("waitidPidfd", &Addon::WaitidPidfd, napi_enumerable),
        InstanceMethod("pidfdGetExitInfo", &Addon::PidfdGetExitInfo, napi_enumerable),
        InstanceMethod("spawn", &Addon::SpawnJs, napi_enumerable),
        InstanceMethod("keeperGo", &Addon::KeeperGoJs, napi_enumerable),
        InstanceMethod("watcherStart", &Addon::WatcherStart, napi_enumerable),
        InstanceMethod("watch", &Addon::Watch, napi_enumerable),
        InstanceMethod("unwatch", &Addon::Unwatch, napi_enumerable),
        InstanceMethod("watchCount", &Addon::WatchCount, napi_enumerable),
        InstanceMethod("capabilities", &Addon::Capabilities, napi_enumerable),
        InstanceMethod("procEventsOpen", &Addon::ProcEventsOpen, napi_enumerable),
        InstanceMethod("procEventsClose", &Addon::ProcEventsClose, napi_enumerable),
        InstanceMethod("procEventsSetTargets", &Addon::ProcEventsSetTargets, napi_enumerable),
        InstanceMethod("procEventsStats", &Addon::ProcEventsStats, napi_enumerable),
        InstanceMethod("getxattr", &Addon::Getxattr, napi_enumerable),
    });
  }

 private:
  Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
    int pid = FdArg(info, 0, "pidfdOpen(pid: integer)");
    if (pid <= 0) ThrowUsage(info.Env(), "pidfdOpen(pid: integer > 0)");
    // pidfd_open always sets O_CLOEXEC on the new fd.
    long fd = syscall(__NR_pidfd_open, pid, 0);
    if (fd < 0) throw ErrnoError(info.Env(), errno, "pidfd_open");
    return Napi::Number::New(info.Env(), static_cast<double>(fd));
  }

  Napi::Value CloseFd(const Napi::CallbackInfo& info) {
    int fd = FdArg(info, 0, "closeFd(fd: integer)");
    // A watched fd is unwatched first so the loop keep-alive count cannot leak.
    watcher_.Unwatch(info.Env(), fd);
    if (close(fd) != 0 && errno != EINTR) throw ErrnoError(info.Env(), errno, "close");
    return info.Env().Undefined();
  }

  Napi::Value WaitidPidfd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = FdArg(info, 0, "waitidPidfd(fd: integer)");
    siginfo_t si;
    std::memset(&si, 0, sizeof si);  // si_pid stays 0 when WNOHANG finds nothing
    if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &si, WEXITED | WNOHANG) != 0)
      throw ErrnoError(env, errno, "waitid");
    if (si.si_pid == 0) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("siCode", si.si_code);
    o.Set("siStatus", si.si_status);
    return o;
  }

  Napi::Value PidfdGetExitInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = FdArg(info, 0, "pidfdGetExitInfo(fd: integer)");
    PidfdInfo pi;
    if (int e = PidfdGetInfo(fd, kPidfdInfoExit, &pi)) throw ErrnoError(env, e, "ioctl");
    Napi::Object o = Napi::Object::New(env);
    bool exited = (pi.mask & kPidfdInfoExit) != 0;
    o.Set("exited", exited);
    if (exited) o.Set("waitStatus", pi.exit_code);
    return o;
  }

  Napi::Value SpawnJs(const Napi::CallbackInfo& info) {
    static const char* kUsage =
        "spawn({ candidates: string[] (non-empty), argv: string[] (non-empty), envp: string[], "
        "cwd: string | null, cgroupFd: integer, cgroupProcsPaths: string[], "
        "keeper?: { path: string, jobId: string, exitFile: string } | null }) "
        "(strings without NUL)";
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) ThrowUsage(env, kUsage);
    Napi::Object o = info[0].As<Napi::Object>();
    SpawnRequest req;
    Napi::Value cwd = o.Get("cwd"), cg = o.Get("cgroupFd"), kp = o.Get("keeper");
    if (!StringArray(o.Get("candidates"), &req.candidates) || req.candidates.empty() ||
        !StringArray(o.Get("argv"), &req.argv) || req.argv.empty() ||
        !StringArray(o.Get("envp"), &req.envp) ||
        !StringArray(o.Get("cgroupProcsPaths"), &req.cgroupProcsPaths) || !IsInt(cg) ||
        !(cwd.IsNull() || CString(cwd, &req.cwd)) || !(kp.IsUndefined() || kp.IsNull() || kp.IsObject())) {
      ThrowUsage(env, kUsage);
    }
    if (kp.IsObject()) {
      Napi::Object k = kp.As<Napi::Object>();
      req.keeper = true;
      if (!CString(k.Get("path"), &req.keeperPath) || !CString(k.Get("jobId"), &req.keeperJobId) ||
          !CString(k.Get("exitFile"), &req.keeperExitFile))
        ThrowUsage(env, kUsage);
    }
    req.hasCwd = !cwd.IsNull();
    double cgd = cg.As<Napi::Number>().DoubleValue();
    if (cgd < -1 || cgd > 2147483647.0) ThrowUsage(env, kUsage);
    req.cgroupFd = static_cast<int>(cgd);

    SpawnResult res;
    SpawnFailure fail{};
    if (!Spawn(req, &res, &fail)) throw ErrnoError(env, fail.err, fail.syscall, fail.hasPath ? &fail.path : nullptr);

    Napi::Object r = Napi::Object::New(env);
    r.Set("pid", res.pid);
    r.Set("pidfd", res.pidfd);
    if (res.pidfdErr != 0) r.Set("pidfdErrno", res.pidfdErr);
    r.Set("keeperPid", res.keeperPid);
    r.Set("keeperPidfd", res.keeperPidfd);
    r.Set("controlFd", res.controlFd);
    r.Set("via", res.viaFork ? "fork" : "clone3");
    r.Set("intoCgroup", res.intoCgroup);
    Napi::Array pe = Napi::Array::New(env, res.placementErrors.size());
    for (size_t i = 0; i < res.placementErrors.size(); i++) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("index", res.placementErrors[i].index);
      e.Set("errno", res.placementErrors[i].err);
      pe.Set(static_cast<uint32_t>(i), e);
    }
    r.Set("placementErrors", pe);
    return r;
  }

  Napi::Value KeeperGoJs(const Napi::CallbackInfo& info) {
    static const char* kUsage = "keeperGo(controlFd: integer >= 0, keeperPidfd: integer >= 0, candidates: string[], start: boolean)";
    Napi::Env env = info.Env();
    int control = FdArg(info, 0, kUsage);
    int keeper = FdArg(info, 1, kUsage);
    std::vector<std::string> candidates;
    if (control < 0 || keeper < 0 || info.Length() < 4 || !StringArray(info[2], &candidates) || !info[3].IsBoolean())
      ThrowUsage(env, kUsage);
    SpawnFailure fail{};
    if (!KeeperGo(control, keeper, candidates, info[3].As<Napi::Boolean>().Value(), &fail)) throw ErrnoError(env, fail.err, fail.syscall, fail.hasPath ? &fail.path : nullptr);
    return env.Undefined();
  }

  Napi::Value WatcherStart(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsFunction())
      ThrowUsage(info.Env(), "watcherStart(onEvent: (token, events, detectedAtMs) => void)");
    watcher_.Start(info.Env(), info[0].As<Napi::Function>());
    return info.Env().Undefined();
  }

  Napi::Value Watch(const Napi::CallbackInfo& info) {
    static const char* kUsage = "watch(fd: integer >= 0, token: integer in [0, 2^32))";
    int fd = FdArg(info, 0, kUsage);
    if (fd < 0 || info.Length() < 2 || !IsInt(info[1])) ThrowUsage(info.Env(), kUsage);
    double t = info[1].As<Napi::Number>().DoubleValue();
    if (t < 0 || t > 4294967295.0) ThrowUsage(info.Env(), kUsage);
    watcher_.Watch(info.Env(), fd, static_cast<uint32_t>(t));
    return info.Env().Undefined();
  }

  Napi::Value Unwatch(const Napi::CallbackInfo& info) {
    watcher_.Unwatch(info.Env(), FdArg(info, 0, "unwatch(fd: integer)"));
    return info.Env().Undefined();
  }

  Napi::Value WatchCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(watcher_.Count()));
  }

  Napi::Value ProcEventsOpen(const Napi::CallbackInfo& info) {
    static const char* kUsage =
        "procEventsOpen(targets: string[], rcvbufBytes: integer in [0, 2^31), kernelFilter: "
        "boolean, onBatch: (batch) => void, holdOffMs?: integer in [0, 1000])";
    Napi::Env env = info.Env();
    std::vector<std::string> targets;
    if (info.Length() < 4 || !StringArray(info[0], &targets) || !IsInt(info[1]) ||
        !info[2].IsBoolean() || !info[3].IsFunction())
      ThrowUsage(env, kUsage);
    double rcvbuf = info[1].As<Napi::Number>().DoubleValue();
    if (rcvbuf < 0 || rcvbuf > 2147483647.0) ThrowUsage(env, kUsage);
    int holdOffMs = ProcConnector::kDefaultHoldOffMs;
    if (info.Length() > 4 && !info[4].IsUndefined()) {
      if (!IsInt(info[4])) ThrowUsage(env, kUsage);
      double h = info[4].As<Napi::Number>().DoubleValue();
      if (h < 0 || h > 1000) ThrowUsage(env, kUsage);
      holdOffMs = static_cast<int>(h);
    }
    ProcConnector::Opened r =
        proc_.Open(env, watcher_, std::move(targets), static_cast<int>(rcvbuf),
                   info[2].As<Napi::Boolean>().Value(), holdOffMs, info[3].As<Napi::Function>());
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", r.id);
    o.Set("kernelFilter", r.kernelFilter);
    o.Set("socketFilter", r.socketFilter);
    o.Set("rcvbufBytes", r.rcvbufBytes);
    o.Set("holdOffMs", holdOffMs);
    return o;
  }

  static uint32_t ProcIdArg(const Napi::CallbackInfo& info, const char* usage) {
    if (info.Length() < 1 || !IsInt(info[0])) ThrowUsage(info.Env(), usage);
    double d = info[0].As<Napi::Number>().DoubleValue();
    if (d < 0 || d > 4294967295.0) ThrowUsage(info.Env(), usage);
    return static_cast<uint32_t>(d);
  }

  Napi::Value ProcEventsClose(const Napi::CallbackInfo& info) {
    proc_.Close(ProcIdArg(info, "procEventsClose(id: integer)"));
    return info.Env().Undefined();
  }

  Napi::Value ProcEventsSetTargets(const Napi::CallbackInfo& info) {
    static const char* kUsage = "procEventsSetTargets(id: integer, targets: string[])";
    uint32_t id = ProcIdArg(info, kUsage);
    std::vector<std::string> targets;
    if (info.Length() < 2 || !StringArray(info[1], &targets)) ThrowUsage(info.Env(), kUsage);
    return Napi::Boolean::New(info.Env(), proc_.SetTargets(id, std::move(targets)));
  }

  Napi::Value ProcEventsStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ProcConnector::Stats st;
    if (!proc_.GetStats(ProcIdArg(info, "procEventsStats(id: integer)"), &st)) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    // Doubles: exact up to 2^53, i.e. ~285 years of a million events a second.
    o.Set("received", Napi::Number::New(env, static_cast<double>(st.received)));
    o.Set("filtered", Napi::Number::New(env, static_cast<double>(st.filtered)));
    o.Set("crossed", Napi::Number::New(env, static_cast<double>(st.crossed)));
    o.Set("overruns", Napi::Number::New(env, static_cast<double>(st.overruns)));
    o.Set("drains", Napi::Number::New(env, static_cast<double>(st.drains)));
    return o;
  }

  // getxattr(2) of one attribute, as bytes (Buffer). An absent attribute (ENODATA) is null: it is
  // an answer ("not delegated"), not a failure. Node has no xattr API; this is the only reason
  // for the call (systemd marks delegated cgroups with trusted.delegate / user.delegate).
  Napi::Value Getxattr(const Napi::CallbackInfo& info) {
    static const char* kUsage = "getxattr(path: string, name: string)";
    Napi::Env env = info.Env();
    std::string path, name;
    if (info.Length() < 2 || !CString(info[0], &path) || !CString(info[1], &name)) ThrowUsage(env, kUsage);
    std::vector<char> buf(64);
    for (;;) {
      ssize_t n = getxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
      if (n >= 0) return Napi::Buffer<char>::Copy(env, buf.data(), static_cast<size_t>(n));
      if (errno == ENODATA) return env.Null();
      if (errno != ERANGE) throw ErrnoError(env, errno, "getxattr", &path);
      // Grown since we sized it: ask for the size, then try again.
      ssize_t need = getxattr(path.c_str(), name.c_str(), nullptr, 0);
      if (need < 0) {
        if (errno == ENODATA) return env.Null();
        throw ErrnoError(env, errno, "getxattr", &path);
      }
      buf.resize(static_cast<size_t>(need) + 1);
    }
  }

  Napi::Value Capabilities(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!caps_) caps_ = Probe();
    utsname u;
    Napi::Object o = Napi::Object::New(env);
    o.Set("kernelRelease", uname(&u) == 0 ? u.release : "");
    o.Set("pidfdOpen", caps_->pidfdOpen);
    o.Set("clone3", caps_->clone3);
    o.Set("pidfdGetInfo", caps_->pidfdGetInfo);
    o.Set("pidfdInfoExit", caps_->pidfdInfoExit);
    return o;
  }

  struct Caps {
    bool pidfdOpen = false, clone3 = false, pidfdGetInfo = false, pidfdInfoExit = false;
  };

  static Caps Probe() {
    Caps c;
    UniqueFd self(static_cast<int>(syscall(__NR_pidfd_open, getpid(), 0)));
    c.pidfdOpen = self.valid();
    // clone3 with a NULL, zero-sized argument: the kernel rejects the size (EINVAL)
    // before creating anything; ENOSYS means no clone3. EPERM (seccomp) = unusable.
    errno = 0;
    c.clone3 = syscall(__NR_clone3, nullptr, 0UL) < 0 && errno != ENOSYS && errno != EPERM;
    if (!self.valid()) return c;
    PidfdInfo pi;
    c.pidfdGetInfo = PidfdGetInfo(self.get(), 0, &pi) == 0;
    if (!c.pidfdGetInfo) return c;
    // PIDFD_INFO_EXIT can only be observed on a reaped process: a 6.13/6.14 kernel
    // accepts the request bit and silently returns without it. So make a child that
    // exits at once, reap it through its pidfd, and look at the returned mask.
    UniqueFd child(SpawnTrivialChild());
    if (!child.valid()) return c;
    siginfo_t si{};
    while (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(child.get()), &si, WEXITED) < 0 &&
           errno == EINTR) {
    }
    c.pidfdInfoExit = PidfdGetInfo(child.get(), kPidfdInfoExit, &pi) == 0 &&
                      (pi.mask & kPidfdInfoExit) != 0 && pi.exit_code == 0;
    return c;
  }

  // Destroyed in reverse order: the watcher (and its thread) goes first, so the connector
  // it may call into outlives it.
  ProcConnector proc_;
  ExitWatcher watcher_;
  std::optional<Caps> caps_;  // probed once per environment
};

}  // namespace ffrtmp

// The macro pastes the class name into an identifier: it needs an unqualified name.
using ffrtmp::Addon;
NODE_API_ADDON(Addon)
