#include "proc_connector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>

#include "errno_error.h"
#include "unique_fd.h"

namespace ffrtmp {

namespace {

// Linux 6.6 UAPI (struct proc_input): an 8-byte LISTEN payload carrying an event mask the
// kernel filters on. Debian 12's linux-libc-dev (6.1) predates it, so it is defined here.
struct ProcInput {
  uint32_t mcastOp;    // enum proc_cn_mcast_op
  uint32_t eventType;  // enum proc_cn_event; 0 (PROC_EVENT_NONE) means "all"
};

// Every event is its own datagram: nlmsghdr (16) + cn_msg (20) + proc_event (40) = 76 bytes.
// proc_event therefore starts at 36, and its 8-byte timestamp at 44 is misaligned: memcpy.
constexpr size_t kCnOff = NLMSG_HDRLEN;                 // 16
constexpr size_t kEventOff = kCnOff + sizeof(cn_msg);   // 36
constexpr size_t kWhatOff = kEventOff + offsetof(proc_event, what);
constexpr size_t kTsOff = kEventOff + offsetof(proc_event, timestamp_ns);
constexpr size_t kTgidOff = kEventOff + offsetof(proc_event, event_data.exec.process_tgid);
constexpr size_t kExecMin = kTgidOff + sizeof(int32_t);
constexpr size_t kExitPidOff = kEventOff + offsetof(proc_event, event_data.exit.process_pid);
constexpr size_t kExitTgidOff = kEventOff + offsetof(proc_event, event_data.exit.process_tgid);
static_assert(kExitPidOff == kTgidOff - 4 && kExitTgidOff == kTgidOff, "exit/exec pid layout");
static_assert(kEventOff == 36 && kTsOff == 44 && kTgidOff == 56, "cn_proc datagram layout");

constexpr uint32_t kEventNone = 0x0;  // PROC_EVENT_NONE: an ack (enum proc_event::what)
constexpr uint32_t kEventExec = 0x2;  // PROC_EVENT_EXEC
constexpr uint32_t kEventExit = 0x80000000;  // PROC_EVENT_EXIT
constexpr size_t kCommBytes = 15;        // TASK_COMM_LEN - 1
constexpr int kMaxPerDrain = 4096;        // datagrams per drain; the rest waits for the next
constexpr unsigned kBatchRecv = 32;       // datagrams per recvmmsg (one syscall)
constexpr size_t kDatagramBytes = 128;    // an exec datagram is 76 bytes; longer ones truncate
constexpr int kAckTimeoutMs = 1000;       // the LISTEN that proves we may listen at all
constexpr int kFilterAckTimeoutMs = 250;  // the 8-byte probe: the kernel acks it within sendto

double RealtimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Classic BPF keeping only cn_proc datagrams whose proc_event.what is `what` (EXEC for the
// running socket, NONE = acks while we wait for one). BPF_ABS loads are big-endian and the
// message is host order, hence htons/htonl on the constants. A load past the end drops.
bool AttachFilter(int fd, uint32_t what) {
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, offsetof(nlmsghdr, nlmsg_type)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(NLMSG_DONE), 0, 7),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kCnOff + offsetof(cn_msg, id.idx)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(CN_IDX_PROC), 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kCnOff + offsetof(cn_msg, id.val)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(CN_VAL_PROC), 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kWhatOff),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(what), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0;
}

// The running socket's filter: exec datagrams, and (withExits) the exit datagrams of whole
// processes (process_pid == process_tgid: the thread group leader; thread exits are dropped).
// The exits only arrive while the kernel's event mask lets them (see SetExitEvents).
bool AttachRunFilter(int fd, bool withExits) {
  if (!withExits) return AttachFilter(fd, kEventExec);
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, offsetof(nlmsghdr, nlmsg_type)),     // 0
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(NLMSG_DONE), 0, 13),           // 1 (no: 15)
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kCnOff + offsetof(cn_msg, id.idx)),  // 2
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(CN_IDX_PROC), 0, 11),          // 3 (no: 15)
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kCnOff + offsetof(cn_msg, id.val)),  // 4
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(CN_VAL_PROC), 0, 9),           // 5 (no: 15)
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kWhatOff),                            // 6
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(kEventExec), 6, 0),            // 7 (yes: 14)
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(kEventExit), 0, 6),            // 8 (no: 15)
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kExitPidOff),                         // 9
      BPF_STMT(BPF_ST, 0),                                                     // 10 M[0] = pid
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kExitTgidOff),                        // 11
      BPF_STMT(BPF_LDX | BPF_W | BPF_MEM, 0),                                  // 12
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1),                            // 13 tgid == pid
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),                                   // 14 keep
      BPF_STMT(BPF_RET | BPF_K, 0),                                            // 15 drop
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0;
}

// One PROC_CN_MCAST_* request to the kernel: a 4-byte op, or (6.6+) an 8-byte proc_input.
// The kernel answers (when it answers) with a PROC_EVENT_NONE datagram whose cn_msg.ack is
// ours + 1; it overwrites seq with its own counter. Returns 0 or the sendto errno.
int SendOp(int fd, uint32_t ack, uint32_t op, bool withEvent, uint32_t eventType) {
  alignas(nlmsghdr) unsigned char buf[kEventOff + sizeof(ProcInput)] = {};
  size_t payload = withEvent ? sizeof(ProcInput) : sizeof(uint32_t);
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(kEventOff + payload);
  h.nlmsg_type = NLMSG_DONE;
  h.nlmsg_pid = 0;
  cn_msg c{};
  c.id.idx = CN_IDX_PROC;
  c.id.val = CN_VAL_PROC;
  c.ack = ack;
  c.len = static_cast<uint16_t>(payload);
  ProcInput in{op, eventType};
  std::memcpy(buf, &h, sizeof h);
  std::memcpy(buf + kCnOff, &c, sizeof c);
  std::memcpy(buf + kEventOff, &in, payload);
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;  // nl_pid 0: the kernel
  for (;;) {
    if (sendto(fd, buf, h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

// Waits for the ack of request `ack`. Returns 0 (acked: *ackErr is the kernel's err field),
// ETIMEDOUT (no ack: a non-initial user/pid namespace gets none), or the errno of the failing
// call, named in *syscall. Other datagrams (other listeners' acks) are read and skipped.
int WaitAck(int fd, uint32_t ack, int timeoutMs, uint32_t* ackErr, const char** syscall) {
  int64_t deadline = MonotonicMs() + timeoutMs;
  for (;;) {
    unsigned char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == ENOBUFS) continue;
      if (errno != EAGAIN) {
        *syscall = "recv";
        return errno;
      }
      int64_t left = deadline - MonotonicMs();
      if (left <= 0) {
        *syscall = "proc_connector_ack";
        return ETIMEDOUT;
      }
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) {
        *syscall = "poll";
        return errno;
      }
      continue;
    }
    cn_msg c;
    uint32_t what;
    if (static_cast<size_t>(n) < kEventOff + offsetof(proc_event, event_data) + sizeof(uint32_t))
      continue;
    std::memcpy(&c, buf + kCnOff, sizeof c);
    std::memcpy(&what, buf + kWhatOff, sizeof what);
    if (c.id.idx != CN_IDX_PROC || c.id.val != CN_VAL_PROC || what != kEventNone ||
        c.ack != ack + 1)
      continue;
    std::memcpy(ackErr, buf + kEventOff + offsetof(proc_event, event_data.ack.err), sizeof *ackErr);
    return 0;
  }
}

// /proc/<pid>/comm into out[16] (no newline, not terminated). Returns its length, or -1
// when it cannot be read (the process is gone already). `procFd`: /proc (O_PATH), or -1.
// openat + read + close, relative to /proc (that saves looking it up, ~1 us). The rest is the
// kernel instantiating a fresh pid's /proc dentries and inodes: ~20 us an exec on a small VM.
int ReadComm(int procFd, int32_t pid, char* out) {
  char path[32];
  if (procFd >= 0)
    snprintf(path, sizeof path, "%d/comm", static_cast<int>(pid));
  else
    snprintf(path, sizeof path, "/proc/%d/comm", static_cast<int>(pid));
  int fd = openat(procFd >= 0 ? procFd : AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[kCommBytes + 2];
  ssize_t n;
  do n = read(fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return -1;
  if (buf[n - 1] == '\n') n--;
  if (n > static_cast<ssize_t>(kCommBytes)) n = kCommBytes;
  std::memcpy(out, buf, static_cast<size_t>(n));
  return static_cast<int>(n);
}

void Truncate(std::vector<std::string>* targets) {
  for (std::string& t : *targets)
    if (t.size() > kCommBytes) t.resize(kCommBytes);  // bytes, like the kernel's comm
}

}  // namespace

ProcConnector::~ProcConnector() {
  // Normally closed already (Close, or the TSFN finalizer at env teardown). The watcher
  // thread is joined before the addon instance is destroyed; closing the fd drops it from
  // the epoll set.
  std::lock_guard<std::mutex> lk(mu_);
  CloseLocked(false);  // the watcher (declared after us in Addon) is already gone
}

ProcConnector::Opened ProcConnector::Open(Napi::Env env, ExitWatcher& watcher,
                                          std::vector<std::string> targets, int rcvbufBytes,
                                          bool kernelFilter, int holdOffMs,
                                          Napi::Function onBatch) {
  if (id_ != 0) throw ErrnoError(env, EBUSY, "procEventsOpen");  // one per environment
  if (!watcher.Started())
    throw Napi::Error::New(env, "procEventsOpen: the watcher thread is not started");
  UniqueFd fd(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR));
  if (!fd.valid()) throw ErrnoError(env, errno, "socket");
  // While we wait for our ack, only acks may queue: exec events of the handshake window
  // would only be read and dropped.
  AttachFilter(fd.get(), kEventNone);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = CN_IDX_PROC;
  sa.nl_pid = 0;  // the kernel picks our port id
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    throw ErrnoError(env, errno, "bind");

  // Acks are multicast to every listener: a nonce keeps other processes' acks apart.
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint32_t ack = static_cast<uint32_t>(now.tv_nsec) ^ (static_cast<uint32_t>(getpid()) << 12);
  uint32_t ackErr = 0;
  const char* sc = "sendto";
  // 1. The classic 4-byte LISTEN: it proves we may listen here (initial namespaces, and
  //    CAP_NET_ADMIN before 6.6: then err is EPERM or bind already failed).
  int e = SendOp(fd.get(), ack, PROC_CN_MCAST_LISTEN, false, 0);
  if (e == 0) e = WaitAck(fd.get(), ack, kAckTimeoutMs, &ackErr, &sc);
  if (e != 0) throw ErrnoError(env, e, sc);
  if (ackErr != 0) throw ErrnoError(env, static_cast<int>(ackErr), "proc_connector_ack");

  // 2. The in-kernel filter (6.6+). The kernel applies a socket's event mask to its own acks
  //    too (PROC_EVENT_NONE matches no mask), so a LISTEN asking for EXEC is never acked to
  //    us. Hence: an 8-byte LISTEN with event_type 0 (= all) is acked only by a kernel that
  //    understands proc_input (older ones ignore a payload that is not 4 bytes); once it is,
  //    the EXEC mask is applied within the sendto of the second request.
  bool kf = false;
  if (kernelFilter) {
    ack += 2;
    const char* ignored = nullptr;
    if (SendOp(fd.get(), ack, PROC_CN_MCAST_LISTEN, true, kEventNone) == 0 &&
        WaitAck(fd.get(), ack, kFilterAckTimeoutMs, &ackErr, &ignored) == 0 && ackErr == 0) {
      kf = SendOp(fd.get(), ack + 2, PROC_CN_MCAST_LISTEN, true, kEventExec) == 0;
    }
  }
  // Replaces the ack-only filter. With the kernel's mask, exits may pass it too: the mask
  // decides when they come (during a hold-off only). Without it, exec datagrams only.
  bool sf = AttachRunFilter(fd.get(), kf);

  // From here on a failure must give the listener back (see CloseLocked).
  auto fail = [&](int err, const char* syscall) {
    SendOp(fd.get(), 0, PROC_CN_MCAST_IGNORE, false, 0);
    return ErrnoError(env, err, syscall);
  };
  if (rcvbufBytes > 0 &&
      setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbufBytes, sizeof rcvbufBytes) != 0 &&
      setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbufBytes, sizeof rcvbufBytes) != 0) {
    throw fail(errno, "setsockopt");
  }
  int granted = 0;
  socklen_t len = sizeof granted;
  if (getsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &granted, &len) != 0)
    throw fail(errno, "getsockopt");

  Truncate(&targets);
  uint32_t id = ++lastId_;
  if (id == 0) id = ++lastId_;
  // Ref'd (the default) while open: a daemon's main source keeps the loop alive. Its single
  // thread count is ours and is released by Close. At env teardown Node finalizes it with
  // the connector still open: the finalizer closes it, so the watcher thread never calls a
  // TSFN that is gone (it only calls it with mu_ held and the fd open).
  Tsfn tsfn = Tsfn::New(env, onBatch, "ffrtmp:proc-connector", 0, 1, this,
                        [id](Napi::Env, void*, ProcConnector* self) {
                          std::lock_guard<std::mutex> lk(self->mu_);
                          if (self->id_ != id) return;  // closed by Close() already
                          self->CloseLocked(true);
                          self->tsfn_ = Tsfn();
                        });
  // Not fatal: without it comm is opened by its absolute path.
  int procFd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  {
    std::lock_guard<std::mutex> lk(mu_);
    fd_ = fd.release();
    procFd_ = procFd;
    targets_ = std::move(targets);
    pendingReceived_ = pendingFiltered_ = 0;
    armed_ = true;  // AddSource registers it armed
    holdOffNs_ = static_cast<int64_t>(holdOffMs) * 1000000;
    holdUntilNs_ = 0;
    lastDrainNs_ = INT64_MIN / 2;  // long ago: the first drain is no stream
    pairExits_ = kf && holdOffNs_ > 0;
    exitEvents_ = false;
    for (auto* c : {&received_, &filtered_, &crossed_, &overruns_, &drains_})
      c->store(0, std::memory_order_relaxed);
    tsfn_ = tsfn;
    id_ = id;
    watcher_ = &watcher;
  }
  try {
    watcher.AddSource(env, fd_, this);
  } catch (...) {
    Close(id);
    throw;
  }
  return Opened{id, kf, sf, granted};
}

void ProcConnector::CloseLocked(bool removeSource) {
  id_ = 0;
  if (fd_ < 0) return;
  if (removeSource && watcher_ != nullptr) watcher_->RemoveSource(fd_);
  // Give our listener back: the kernel counts LISTENs and never decrements on close(), so
  // without this every process on the host keeps paying for events no one reads.
  SendOp(fd_, 0, PROC_CN_MCAST_IGNORE, false, 0);
  close(fd_);
  fd_ = -1;
  if (procFd_ >= 0) close(procFd_);
  procFd_ = -1;
  holdUntilNs_ = 0;
}

void ProcConnector::Close(uint32_t id) {
  if (id == 0 || id != id_) return;
  Tsfn tsfn;
  {
    std::lock_guard<std::mutex> lk(mu_);
    CloseLocked(true);
    targets_.clear();
    tsfn = tsfn_;
    tsfn_ = Tsfn();
  }
  // Batches still queued are delivered to CallJs, which drops them (stale id); then the
  // TSFN closes and no longer holds the loop.
  tsfn.Release();
}

bool ProcConnector::SetTargets(uint32_t id, std::vector<std::string> targets) {
  if (id == 0 || id != id_) return false;
  Truncate(&targets);
  std::lock_guard<std::mutex> lk(mu_);
  targets_.swap(targets);
  return true;
}

bool ProcConnector::GetStats(uint32_t id, Stats* out) const {
  if (id == 0 || id != id_) return false;
  constexpr auto r = std::memory_order_relaxed;
  *out = Stats{received_.load(r), filtered_.load(r), crossed_.load(r), overruns_.load(r),
               drains_.load(r)};
  return true;
}

// Coalescing. The socket is registered EPOLLONESHOT: every readiness report disarms it. A
// drain that follows the previous one by at least the hold-off (the socket was quiet) re-arms
// it at once: the next exec wakes the thread straight away. One that follows it sooner (execs
// are streaming in) leaves it disarmed and asks to be called again a hold-off later; that
// timed drain takes everything that queued meanwhile in one go, and holds off again if it
// found an exec, or re-arms (and the thread goes back to sleeping without a timeout) if it
// found none. A storm costs one wake-up per hold-off, not one per exec; a quiet socket none.
//
// During a hold-off (6.6+ kernel mask only) the kernel also sends whole-process exits, so an
// exec whose process is gone by the timed drain is dropped without its /proc lookup.
int64_t ProcConnector::OnReady(bool fired, int64_t nowNs) {
  std::lock_guard<std::mutex> lk(mu_);
  if (fd_ < 0) return 0;  // closed after epoll_wait returned
  if (fired) {
    armed_ = false;
  } else if (holdUntilNs_ == 0) {
    return 0;  // a deadline this connector did not ask for (closed and reopened since)
  } else if (nowNs < holdUntilNs_) {
    return holdUntilNs_;
  }
  std::unique_ptr<Batch> b(new Batch{0, RealtimeMs(), {}, 0, 0, 0, 0});
  bool activity = DrainLocked(b.get()) > 0;
  bool streaming = activity && (!fired || nowNs - lastDrainNs_ < holdOffNs_);
  lastDrainNs_ = nowNs;
  if (streaming) {
    if (holdUntilNs_ == 0 && pairExits_) SetExitEventsLocked(true);
    holdUntilNs_ = nowNs + holdOffNs_;
  } else {
    if (exitEvents_) {
      SetExitEventsLocked(false);
      DrainLocked(b.get());  // what came in before the kernel had the mask: now, not on a wake-up
    }
    holdUntilNs_ = 0;
    if (!armed_) {
      if (watcher_->ArmSource(fd_))
        armed_ = true;
      else
        holdUntilNs_ = nowNs + std::max<int64_t>(holdOffNs_, 1000000);  // cannot happen: poll
    }
  }
  constexpr auto r = std::memory_order_relaxed;
  drains_.fetch_add(1, r);
  received_.fetch_add(b->received, r);
  filtered_.fetch_add(b->filtered, r);
  overruns_.fetch_add(b->overruns, r);

  // Nothing for JS (every exec filtered out): do not wake it; the counters ride along with
  // the next batch that does cross (GetStats has them meanwhile).
  if (b->execs.empty() && b->overruns == 0 && b->err == 0) {
    pendingReceived_ += b->received;
    pendingFiltered_ += b->filtered;
    return holdUntilNs_;
  }
  b->id = id_;
  b->received += pendingReceived_;
  b->filtered += pendingFiltered_;
  pendingReceived_ = pendingFiltered_ = 0;
  size_t n = b->execs.size();
  if (tsfn_.NonBlockingCall(b.get()) == napi_ok) {
    b.release();
    crossed_.fetch_add(n, r);
  }
  return holdUntilNs_;
}

void ProcConnector::SetExitEventsLocked(bool on) {
  // A LISTEN on a socket that listens already only changes its mask (the listener count
  // moves on the first LISTEN and on IGNORE). The kernel applies it within the sendto.
  if (SendOp(fd_, 0, PROC_CN_MCAST_LISTEN, true, on ? kEventExec | kEventExit : kEventExec) == 0)
    exitEvents_ = on;
}

size_t ProcConnector::DrainLocked(Batch* b) {
  // One recvmmsg per kBatchRecv datagrams. A short count means the queue is empty, or that an
  // error (ENOBUFS) stopped it after some datagrams: the kernel keeps that error for the next
  // call, i.e. the next drain (a re-arm reports EPOLLERR at once; a hold-off drains anyway).
  unsigned char bufs[kBatchRecv][kDatagramBytes];
  iovec iov[kBatchRecv];
  mmsghdr msgs[kBatchRecv];
  std::memset(msgs, 0, sizeof msgs);
  for (unsigned i = 0; i < kBatchRecv; i++) {
    iov[i] = iovec{bufs[i], kDatagramBytes};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  size_t activity = 0;
  int read = 0;
  while (read < kMaxPerDrain) {
    int got = recvmmsg(fd_, msgs, kBatchRecv, MSG_DONTWAIT, nullptr);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      activity++;
      if (errno == ENOBUFS) {  // the kernel dropped events: JS rescans /proc
        b->overruns++;
        continue;
      }
      b->err = errno;
      break;
    }
    read += got;
    for (int m = 0; m < got; m++) {
      const unsigned char* buf = bufs[m];
      size_t n = msgs[m].msg_len;
      // The BPF filter already did this; a socket without it (or a stray ack) lands here.
      nlmsghdr h;
      cn_msg c;
      uint32_t what;
      int32_t pid;
      if (n < kExecMin) continue;
      std::memcpy(&h, buf, sizeof h);
      std::memcpy(&c, buf + kCnOff, sizeof c);
      std::memcpy(&what, buf + kWhatOff, sizeof what);
      if (h.nlmsg_type != NLMSG_DONE || c.id.idx != CN_IDX_PROC || c.id.val != CN_VAL_PROC)
        continue;
      if (what == kEventExit) {
        int32_t tgid;
        std::memcpy(&pid, buf + kExitPidOff, sizeof pid);
        std::memcpy(&tgid, buf + kExitTgidOff, sizeof tgid);
        auto it = pid == tgid ? lastExec_.find(pid) : lastExec_.end();
        if (it != lastExec_.end()) seen_[it->second].gone = true;
        continue;
      }
      if (what != kEventExec) continue;
      b->received++;
      activity++;
      uint64_t ts;
      std::memcpy(&pid, buf + kTgidOff, sizeof pid);
      std::memcpy(&ts, buf + kTsOff, sizeof ts);
      // The shell that is about to exec ffmpeg and ffmpeg itself: one entry per pid, with
      // the time of the later exec (the one that made the comm what will be read); the
      // earlier one counts as filtered.
      auto ins = lastExec_.emplace(pid, static_cast<uint32_t>(seen_.size()));
      if (ins.second) {
        seen_.push_back(Seen{pid, ts, false});
      } else {
        b->filtered++;
        Seen& x = seen_[ins.first->second];
        x.timestampNs = ts;
        x.gone = false;  // (an exit in between: its pid was reused)
      }
    }
    if (static_cast<unsigned>(got) < kBatchRecv) break;
  }

  // The comm filter, after the whole queue was read: an exec whose process exited within
  // the same drain (a storm of short-lived commands, coalesced) needs no /proc lookup, by far
  // the costliest part of an event (see ReadComm; a datagram costs well under 1 us).
  for (const Seen& x : seen_) {
    Exec ex{};
    ex.pid = x.pid;
    ex.timestampNs = x.timestampNs;
    // (With no targets every exec crosses: its comm is still read, as for a live one.)
    int len = x.gone && !targets_.empty() ? -1 : ReadComm(procFd_, ex.pid, ex.comm);
    bool keep = targets_.empty();  // every exec, even of a process gone already (comm "")
    for (size_t t = 0; !keep && len >= 0 && t < targets_.size(); t++)
      keep = targets_[t].size() == static_cast<size_t>(len) &&
             std::memcmp(targets_[t].data(), ex.comm, static_cast<size_t>(len)) == 0;
    if (keep)
      b->execs.push_back(ex);
    else
      b->filtered++;
  }
  seen_.clear();
  lastExec_.clear();
  return activity;
}

void ProcConnector::CallJs(Napi::Env env, Napi::Function cb, ProcConnector* self, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);  // freed on every path, env or not
  if (env == nullptr || cb.IsEmpty() || self == nullptr) return;
  if (owned->id != self->id_) return;  // closed (or reopened) since: nothing after close()
  Napi::Array execs = Napi::Array::New(env, owned->execs.size());
  for (size_t i = 0; i < owned->execs.size(); i++) {
    const Exec& x = owned->execs[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", Napi::Number::New(env, x.pid));
    o.Set("timestampNs", Napi::Number::New(env, static_cast<double>(x.timestampNs)));
    o.Set("comm", Napi::String::New(env, x.comm, strnlen(x.comm, sizeof x.comm)));
    execs.Set(static_cast<uint32_t>(i), o);
  }
  Napi::Object b = Napi::Object::New(env);
  b.Set("execs", execs);
  b.Set("overruns", Napi::Number::New(env, static_cast<double>(owned->overruns)));
  b.Set("received", Napi::Number::New(env, static_cast<double>(owned->received)));
  b.Set("filtered", Napi::Number::New(env, static_cast<double>(owned->filtered)));
  b.Set("detectedAtMs", Napi::Number::New(env, owned->detectedAtMs));
  if (owned->err != 0) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("errno", Napi::Number::New(env, owned->err));
    e.Set("syscall", Napi::String::New(env, "recv"));
    b.Set("error", e);
  }
  try {
    cb.Call({b});
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());  // like a throwing timer callback (exit_watcher.cc)
  }
}

}  // namespace ffrtmp
