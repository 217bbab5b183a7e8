// Syscall failures cross the boundary as data: {errno (positive), syscall, path?}.
// src/native/errors.ts turns that into a Node-shaped SystemError (code 'ESRCH',
// errno -3, message 'ESRCH: no such process, pidfd_open'). We never send strerror()
// text: the errno number is the information, the wording belongs to JS.
#pragma once

#include <napi.h>

#include <string>

namespace ffrtmp {

inline Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                              const std::string* path = nullptr) {
  Napi::Error e = Napi::Error::New(env, syscall);
  Napi::Object o = e.Value();
  o.Set("errno", Napi::Number::New(env, err));
  o.Set("syscall", Napi::String::New(env, syscall));
  if (path != nullptr) o.Set("path", Napi::String::New(env, *path));
  return e;
}

// Argument shape errors only; all other validation is TypeScript's job.
[[noreturn]] inline void ThrowUsage(Napi::Env env, const char* usage) {
  throw Napi::TypeError::New(env, std::string("Usage: ") + usage);
}

}  // namespace ffrtmp
