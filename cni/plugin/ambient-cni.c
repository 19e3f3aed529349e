// ambient-cni: the CNI plugin the container runtime runs for each pod, chained after the primary
// plugins. It only relays: the call (CNI_COMMAND, the CNI_* environment, the network
// configuration on stdin) goes to the node agent as one HTTP request on a Unix socket, and the
// agent's answer says which exit code to use and what to print. All decisions live in the agent
// (cni/src), so this file stays small enough to audit. The protocol is in README.md.
//
// Why C: the runtime executes the plugin on the node itself, where no Node.js exists, once per
// pod sandbox. A static binary starts in a millisecond, needs nothing installed, and is written
// so that hostile input can neither crash it nor make it allocate without bound: stdin and the
// answer go into fixed buffers, the request body is sized exactly before it is allocated.
#define _GNU_SOURCE // memmem
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONFIG (1u << 20) // stdin
#define MAX_ANSWER (4u << 20) // the agent's whole HTTP response, headers included
#define IO_TIMEOUT_S 60       // per send/receive; the agent answers long before
#define MAX_SOCKET_PATH 107   // sizeof(sun_path) minus the terminating NUL
#define MAX_VERSION 32

// The CNI spec's error codes this plugin reports itself; the agent chooses its own.
enum { ERR_ENV = 4, ERR_IO = 5, ERR_CONFIG = 7, ERR_TRY_LATER = 11 };

static const char DEFAULT_SOCKET[] = "/var/run/ambient-cni/plugin.sock";
static const char SUPPORTED[] = "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]";

// Echoed in every result; the configuration's own once it has been validated.
static const char *cni_version = "1.1.0";
// Static so that only the pages actually filled are ever touched; one byte more than the limit
// tells "exactly the limit" from "over it".
static char config[MAX_CONFIG + 1];
static char answer[MAX_ANSWER + 1];

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v ? v : "";
}

// Writes all n bytes, through partial writes and EINTR. SIGPIPE is ignored, so a closed peer
// shows up as EPIPE here instead of killing the plugin.
static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

// JSON string escaping, just enough for any byte string: quote, backslash and control bytes.
// Bytes >= 0x80 pass through, so UTF-8 arrives intact (and invalid UTF-8 arrives as it was).
static size_t escaped_len(const char *s, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    len += c < 0x20 ? 6 : (c == '"' || c == '\\') ? 2 : 1;
  }
  return len;
}

static char *escape_to(char *out, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      *out++ = '\\';
      *out++ = (char)c;
    } else if (c < 0x20) {
      memcpy(out, "\\u00", 4);
      out[4] = hex[c >> 4];
      out[5] = hex[c & 15];
      out += 6;
    } else {
      *out++ = (char)c;
    }
  }
  return out;
}

// Prints a CNI error result and exits 1. msg and details are cut at 256 bytes each: some of
// them quote the environment or the agent, and an error result only has to say what went wrong.
_Noreturn static void fail(int code, const char *msg, const char *details) {
  char out[128 + 2 * 6 * 256];
  size_t mlen = strnlen(msg, 256), dlen = strnlen(details, 256);
  char *p = out + snprintf(out, 128, "{\"cniVersion\":\"%s\",\"code\":%d,\"msg\":\"", cni_version, code);
  p = escape_to(p, msg, mlen);
  memcpy(p, "\",\"details\":\"", 13);
  p = escape_to(p + 13, details, dlen);
  memcpy(p, "\"}\n", 3);
  write_all(STDOUT_FILENO, out, (size_t)(p + 3 - out));
  exit(1);
}

static size_t read_config(void) {
  size_t len = 0;
  for (;;) {
    ssize_t n = read(STDIN_FILENO, config + len, sizeof config - len);
    if (n == 0) return len;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(ERR_IO, "ambient-cni: cannot read the network configuration from stdin", strerror(errno));
    len += (size_t)n;
    if (len > MAX_CONFIG) fail(ERR_ENV, "ambient-cni: network configuration larger than 1 MiB", "");
  }
}

// The value of the first `"key"` followed by `:` and a string, as a pointer into the
// configuration: 1 when found, 0 when absent, -1 when the string never ends. Not a JSON parser,
// and escapes are not decoded: the two fields read here never need them (callers reject `\`).
static int find_string_field(const char *in, size_t n, const char *key, const char **val, size_t *len) {
  char quoted[32];
  size_t klen = (size_t)snprintf(quoted, sizeof quoted, "\"%s\"", key);
  const char *end = in + n, *hit = in;
  while ((hit = memmem(hit, (size_t)(end - hit), quoted, klen)) != NULL) {
    const char *p = hit + klen;
    hit++;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p == end || *p++ != ':') continue;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p == end || *p++ != '"') continue;
    const char *close = memchr(p, '"', (size_t)(end - p));
    if (!close) return -1;
    *val = p;
    *len = (size_t)(close - p);
    return 1;
  }
  return 0;
}

// Copies a string field of the configuration into out (NUL-terminated), or dflt when absent.
// Fails with code 7 and the offending value when the string is unterminated, empty, longer than
// max, or holds a byte that `allowed` refuses (`rule` says which are allowed).
static void string_field(size_t config_len, const char *key, size_t max, int (*allowed)(unsigned char), const char *rule, char *out,
                         const char *dflt) {
  const char *val = "";
  size_t len = 0;
  int found = find_string_field(config, config_len, key, &val, &len);
  char why[96] = "";
  if (found < 0) snprintf(why, sizeof why, "the string never ends");
  else if (found > 0 && len == 0) snprintf(why, sizeof why, "empty");
  else if (len > max) snprintf(why, sizeof why, "longer than %zu bytes", max);
  for (size_t i = 0; found > 0 && !*why && i < len; i++)
    if (!allowed((unsigned char)val[i])) snprintf(why, sizeof why, "%s", rule);
  if (*why) {
    char msg[64], details[256];
    snprintf(msg, sizeof msg, "ambient-cni: invalid %s", key);
    snprintf(details, sizeof details, "%s: \"%.*s\"", why, (int)(len < 128 ? len : 128), val);
    fail(ERR_CONFIG, msg, details);
  }
  if (found == 0) {
    strcpy(out, dflt);
  } else {
    memcpy(out, val, len);
    out[len] = '\0';
  }
}

static int version_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-';
}

// Anything a Unix socket path can hold except what would need JSON escaping or hide in a log.
static int socket_byte(unsigned char c) {
  return c >= 0x20 && c != 0x7f && c != '\\';
}

// Sends the request and reads the answer into `answer` until the agent closes (or the limit is
// passed: *answer_len is then MAX_ANSWER + 1). -1 with errno set when the agent cannot be reached
// or stops answering; a timeout reads as ETIMEDOUT, an answer of no bytes as ECONNRESET.
static int exchange(const char *path, const char *head, size_t head_len, const char *body, size_t body_len, size_t *answer_len) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval timeout = {.tv_sec = IO_TIMEOUT_S};
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  memcpy(addr.sun_path, path, strlen(path)); // at most 107 bytes, the rest stays zero
  // The send timeout also bounds connect() on a Unix socket whose listen backlog is full.
  int ok = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) == 0 &&
           setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) == 0 &&
           connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && write_all(fd, head, head_len) == 0 &&
           write_all(fd, body, body_len) == 0;
  size_t len = 0;
  while (ok && len < sizeof answer) {
    ssize_t n = read(fd, answer + len, sizeof answer - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = 0;
    if (n <= 0) break;
    len += (size_t)n;
  }
  if (ok && len == 0) ok = 0, errno = ECONNRESET;
  if (!ok && (errno == EAGAIN || errno == EWOULDBLOCK)) errno = ETIMEDOUT;
  int saved = errno;
  close(fd);
  errno = saved;
  *answer_len = len;
  return ok ? 0 : -1;
}

static int relayed(const char *command) {
  static const char *const commands[] = {"ADD", "DEL", "CHECK", "GC", "STATUS"};
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (strcmp(command, commands[i]) == 0) return 1;
  return 0;
}

// 0-255 written in decimal, nothing else; -1 otherwise.
static int exit_code(const char *s, size_t n) {
  if (n == 0 || n > 3) return -1;
  int code = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    code = code * 10 + (s[i] - '0');
  }
  return code <= 255 ? code : -1;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const char *command = env("CNI_COMMAND");
  char msg[320];
  // Checked before stdin is read: a plugin run by hand without CNI_COMMAND should not wait on a terminal.
  if (!*command) fail(ERR_ENV, "ambient-cni: CNI_COMMAND is not set", "expected ADD, DEL, CHECK, GC, STATUS or VERSION");
  if (strcmp(command, "VERSION") != 0 && !relayed(command)) {
    snprintf(msg, sizeof msg, "ambient-cni: unknown CNI_COMMAND \"%.64s\"", command);
    fail(ERR_ENV, msg, "expected ADD, DEL, CHECK, GC, STATUS or VERSION");
  }
  size_t config_len = read_config();
  static char version[MAX_VERSION + 1];
  string_field(config_len, "cniVersion", MAX_VERSION, version_byte, "only 0-9, A-Z, a-z, '.' and '-' are allowed", version, cni_version);
  cni_version = version;
  if (!relayed(command)) {
    printf("{\"cniVersion\":\"%s\",\"supportedVersions\":%s}\n", cni_version, SUPPORTED);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  static char socket_path[MAX_SOCKET_PATH + 1];
  string_field(config_len, "agent_socket", MAX_SOCKET_PATH, socket_byte, "a backslash or a control character", socket_path,
               DEFAULT_SOCKET);

  // The body: {"command":..., ..., "stdin":...}, measured first so that it is allocated once.
  struct {
    const char *key, *val;
    size_t len;
  } fields[] = {
      {"command", command, 0},      {"containerId", env("CNI_CONTAINERID"), 0},
      {"netns", env("CNI_NETNS"), 0}, {"ifName", env("CNI_IFNAME"), 0},
      {"args", env("CNI_ARGS"), 0},   {"path", env("CNI_PATH"), 0},
      {"stdin", config, config_len},
  };
  enum { N_FIELDS = sizeof fields / sizeof *fields };
  size_t body_len = 1; // "{"; each field adds "key":"value" and a ',' or the closing '}'
  for (size_t i = 0; i < N_FIELDS; i++) {
    if (i < N_FIELDS - 1) fields[i].len = strlen(fields[i].val);
    size_t add = strlen(fields[i].key) + 6, esc = escaped_len(fields[i].val, fields[i].len);
    if (esc > SIZE_MAX - add || body_len > SIZE_MAX - add - esc) fail(ERR_ENV, "ambient-cni: CNI environment too large", "");
    body_len += add + esc;
  }
  char *body = malloc(body_len), *p = body;
  if (!body) fail(ERR_IO, "ambient-cni: out of memory", strerror(errno));
  *p++ = '{';
  for (size_t i = 0; i < N_FIELDS; i++) {
    *p++ = '"';
    p = stpcpy(p, fields[i].key);
    p = stpcpy(p, "\":\"");
    p = escape_to(p, fields[i].val, fields[i].len);
    *p++ = '"';
    *p++ = i < N_FIELDS - 1 ? ',' : '}';
  }
  char head[192];
  int head_len = snprintf(head, sizeof head,
                          "POST /v1/cni HTTP/1.1\r\nHost: ambient-cni\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          body_len);

  size_t n = 0;
  if (exchange(socket_path, head, (size_t)head_len, body, body_len, &n) < 0) {
    char details[MAX_SOCKET_PATH + 128];
    snprintf(details, sizeof details, "%s: %s", socket_path, strerror(errno));
    // A DEL must never hold up pod teardown; the agent reconciles removals on its own.
    if (strcmp(command, "DEL") == 0) {
      fprintf(stderr, "ambient-cni: node agent unreachable (%s); DEL treated as done\n", details);
      return 0;
    }
    fail(ERR_TRY_LATER, "ambient-cni: node agent unreachable", details);
  }
  free(body);
  if (n > MAX_ANSWER) fail(ERR_IO, "ambient-cni: node agent answer larger than 4 MiB", "");
  if (n < 13 || (memcmp(answer, "HTTP/1.1 200 ", 13) != 0 && memcmp(answer, "HTTP/1.0 200 ", 13) != 0)) {
    size_t line = 0;
    while (line < n && line < 128 && answer[line] != '\r' && answer[line] != '\n') line++;
    snprintf(msg, sizeof msg, "ambient-cni: node agent answered \"%.*s\"", (int)line, answer);
    fail(ERR_IO, msg, "");
  }
  // The body's first line is the exit code; everything after it is the plugin's stdout.
  answer[n] = '\0'; // stops the header scan below at the end of what was read
  const char *end = answer + n, *start = memmem(answer, n, "\r\n\r\n", 4);
  if (!start) fail(ERR_IO, "ambient-cni: node agent answer has no body", "");
  // Not an HTTP client: a chunked body would be read as garbage, so it is refused by name.
  for (const char *h = memchr(answer, '\n', (size_t)(start - answer)); h && h + 1 < start; h = memchr(h + 1, '\n', (size_t)(start - h - 1)))
    if (strncasecmp(h + 1, "transfer-encoding:", 18) == 0)
      fail(ERR_IO, "ambient-cni: node agent answered with a Transfer-Encoding", "the agent must send the body with a Content-Length");
  start += 4;
  const char *nl = memchr(start, '\n', (size_t)(end - start)), *rest = nl ? nl + 1 : end;
  size_t first = (size_t)((nl ? nl : end) - start);
  int code = exit_code(start, first);
  if (code < 0) {
    snprintf(msg, sizeof msg, "first line \"%.*s\"", (int)(first < 64 ? first : 64), start);
    fail(ERR_IO, "ambient-cni: node agent answer does not start with an exit code (0-255)", msg);
  }
  if (write_all(STDOUT_FILENO, rest, (size_t)(end - rest)) < 0) return 1;
  return code;
}
