// The few Linux socket calls Node lacks, for in-pod capture: creating sockets inside another
// network namespace, socket marks, IP_TRANSPARENT and SO_ORIGINAL_DST. Sockets are handed back
// as plain fds for Node to serve or connect (connecting here would lose Node's 'connect' event).
// Also malloc_trim and V8's low-memory notification, which Node does not expose either
// (ztunnel/src/memory-release.ts).
#include <napi.h>
#include <v8.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace {

// A failed step: which call, on what value, and errno.
struct Failure {
  std::string op;
  std::string value;
  int err = 0;
};

const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "EUNKNOWN";
}

Napi::Value Throw(Napi::Env env, const Failure& f) {
  std::string code = ErrnoName(f.err);
  std::string msg = f.op + " " + f.value + ": " + code + " (" + strerror(f.err) + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, f.err));
  e.Set("syscall", Napi::String::New(env, f.op));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

struct SocketSpec {
  std::string netns;  // empty: the calling thread's own netns
  bool listen = false;
  std::string host;
  int port = 0;
  int backlog = 511;
  bool transparent = false;
  bool freebind = false;
  int mark = -1;  // -1: no mark
};

bool SetInt(int fd, int level, int opt, int value, const char* name, Failure* f) {
  if (setsockopt(fd, level, opt, &value, sizeof value) == 0) return true;
  *f = {"setsockopt", name, errno};
  return false;
}

// Runs on a thread of its own: setns() changes only the calling thread's namespace, and that
// thread ends right after, so Node's threads never leave the host netns. A socket keeps the
// netns it was created in for life.
int CreateSocket(const SocketSpec& s, Failure* f) {
  if (!s.netns.empty()) {
    int nsfd = open(s.netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) { *f = {"open", s.netns, errno}; return -1; }
    int rc = setns(nsfd, CLONE_NEWNET);
    int err = errno;
    close(nsfd);
    if (rc != 0) { *f = {"setns", s.netns, err}; return -1; }
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { *f = {"socket", s.netns.empty() ? "AF_INET" : s.netns, errno}; return -1; }
  bool ok = true;
  if (s.mark >= 0) ok = SetInt(fd, SOL_SOCKET, SO_MARK, s.mark, "SO_MARK", f);
  if (ok && s.transparent) ok = SetInt(fd, SOL_IP, IP_TRANSPARENT, 1, "IP_TRANSPARENT", f);
  if (ok && s.freebind) ok = SetInt(fd, SOL_IP, IP_FREEBIND, 1, "IP_FREEBIND", f);
  if (ok && s.listen) {
    ok = SetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", f);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(s.port));
    if (ok && inet_pton(AF_INET, s.host.c_str(), &addr.sin_addr) != 1) {
      *f = {"inet_pton", s.host, EINVAL};
      ok = false;
    }
    std::string where = s.host + ":" + std::to_string(s.port);
    if (ok && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      *f = {"bind", where, errno};
      ok = false;
    }
    if (ok && listen(fd, s.backlog) != 0) {
      *f = {"listen", where, errno};
      ok = false;
    }
  }
  if (!ok) { close(fd); return -1; }
  return fd;
}

int CreateSocketOnThread(const SocketSpec& s, Failure* f) {
  if (s.netns.empty()) return CreateSocket(s, f);
  int fd = -1;
  std::thread t([&] { fd = CreateSocket(s, f); });
  t.join();
  return fd;
}

// Reads { transparent, freebind, mark } from an optional options object.
bool ReadOptions(const Napi::CallbackInfo& info, size_t index, SocketSpec* s) {
  if (info.Length() <= index || info[index].IsUndefined()) return true;
  if (!info[index].IsObject()) {
    Napi::TypeError::New(info.Env(), "options must be an object").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object o = info[index].As<Napi::Object>();
  Napi::Value mark = o.Get("mark");
  if (!mark.IsUndefined()) {
    double m = mark.IsNumber() ? mark.As<Napi::Number>().DoubleValue() : -1;
    if (m < 0 || m > 0xffffffffu || m != static_cast<double>(static_cast<int64_t>(m))) {
      Napi::TypeError::New(info.Env(), "mark must be an integer from 0 to 0xffffffff").ThrowAsJavaScriptException();
      return false;
    }
    s->mark = static_cast<int>(static_cast<uint32_t>(m));
  }
  s->transparent = o.Get("transparent").ToBoolean();
  s->freebind = o.Get("freebind").ToBoolean();
  return true;
}

bool ReadString(const Napi::CallbackInfo& info, size_t index, const char* name, std::string* out) {
  if (info.Length() <= index || !info[index].IsString()) {
    Napi::TypeError::New(info.Env(), std::string(name) + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[index].As<Napi::String>().Utf8Value();
  return true;
}

bool ReadInt(const Napi::CallbackInfo& info, size_t index, const char* name, int lo, int hi, int* out) {
  double v = info.Length() > index && info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : -1e18;
  if (v < lo || v > hi || v != static_cast<double>(static_cast<int64_t>(v))) {
    Napi::TypeError::New(info.Env(), std::string(name) + " must be an integer from " + std::to_string(lo) + " to " +
                                         std::to_string(hi)).ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

// listenInNetns(netnsPath, host, port, backlog, { transparent?, freebind?, mark? }) -> fd
Napi::Value ListenInNetns(const Napi::CallbackInfo& info) {
  SocketSpec s;
  s.listen = true;
  if (!ReadString(info, 0, "netnsPath", &s.netns) || !ReadString(info, 1, "host", &s.host) ||
      !ReadInt(info, 2, "port", 0, 65535, &s.port) || !ReadInt(info, 3, "backlog", 1, 65535, &s.backlog) ||
      !ReadOptions(info, 4, &s)) {
    return info.Env().Undefined();
  }
  Failure f;
  int fd = CreateSocketOnThread(s, &f);
  if (fd < 0) return Throw(info.Env(), f);
  return Napi::Number::New(info.Env(), fd);
}

// socketInNetns(netnsPath, { transparent?, freebind?, mark? }) -> fd of an unconnected socket
Napi::Value SocketInNetns(const Napi::CallbackInfo& info) {
  SocketSpec s;
  if (!ReadString(info, 0, "netnsPath", &s.netns) || !ReadOptions(info, 1, &s)) return info.Env().Undefined();
  Failure f;
  int fd = CreateSocketOnThread(s, &f);
  if (fd < 0) return Throw(info.Env(), f);
  return Napi::Number::New(info.Env(), fd);
}

// originalDst(fd) -> { address, port }: where the client meant to go before a REDIRECT.
Napi::Value OriginalDst(const Napi::CallbackInfo& info) {
  int fd;
  if (!ReadInt(info, 0, "fd", 0, 0x7fffffff, &fd)) return info.Env().Undefined();
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &addr, &len) != 0) {
    return Throw(info.Env(), {"getsockopt", "SO_ORIGINAL_DST fd " + std::to_string(fd), errno});
  }
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr.sin_addr, buf, sizeof buf);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("address", Napi::String::New(info.Env(), buf));
  out.Set("port", Napi::Number::New(info.Env(), ntohs(addr.sin_port)));
  return out;
}

// setMark(fd, mark)
Napi::Value SetMark(const Napi::CallbackInfo& info) {
  int fd;
  if (!ReadInt(info, 0, "fd", 0, 0x7fffffff, &fd)) return info.Env().Undefined();
  double m = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (m < 0 || m > 0xffffffffu || m != static_cast<double>(static_cast<int64_t>(m))) {
    Napi::TypeError::New(info.Env(), "mark must be an integer from 0 to 0xffffffff").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  Failure f;
  int mark = static_cast<int>(static_cast<uint32_t>(m));
  if (!SetInt(fd, SOL_SOCKET, SO_MARK, mark, "SO_MARK", &f)) {
    f.value += " fd " + std::to_string(fd);
    return Throw(info.Env(), f);
  }
  return info.Env().Undefined();
}

// Hands the pages of freed heap memory back to the kernel (glibc's malloc_trim(0), which also
// releases free pages in the middle of the heap, not only at its top). Node frees the buffers of
// closed TLS and HTTP/2 sessions into malloc, which keeps them: after connection churn a proxy's
// RSS stays at its high-water mark. True when memory was released; false without glibc.
Napi::Value TrimMalloc(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

// Tells V8 memory is short: a full garbage collection that also compacts the old generation and
// hands its emptied pages back (after a burst of connections V8 otherwise keeps them committed,
// 100+ MiB). Node has no JavaScript binding for it; the addon is built against the running Node.
Napi::Value LowMemoryNotification(const Napi::CallbackInfo& info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("listenInNetns", Napi::Function::New(env, ListenInNetns));
  exports.Set("socketInNetns", Napi::Function::New(env, SocketInNetns));
  exports.Set("originalDst", Napi::Function::New(env, OriginalDst));
  exports.Set("setMark", Napi::Function::New(env, SetMark));
  exports.Set("trimMalloc", Napi::Function::New(env, TrimMalloc));
  exports.Set("lowMemoryNotification", Napi::Function::New(env, LowMemoryNotification));
  return exports;
}

}  // namespace

NODE_API_MODULE(ztunnel_native, Init)
