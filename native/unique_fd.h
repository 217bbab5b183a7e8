// Owning file descriptor: close(2) exactly once, on every path (early throws included).
#pragma once

#include <unistd.h>

#include <utility>

namespace ffrtmp {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Hand ownership to the caller (e.g. a pidfd returned to JS).
  int release() { return std::exchange(fd_, -1); }
  // close(2) errors are ignored on purpose: Linux always frees the descriptor, and
  // retrying on EINTR could close an fd another thread just got.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace ffrtmp
