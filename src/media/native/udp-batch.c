/*
 * Batched UDP I/O for a media worker thread (Node-API, C): the worker's media sockets without
 * node:dgram's per-datagram objects and system calls (bench/RESULTS.md, "native socket path").
 *
 * One group per worker: its sockets (socket/bind here, nonblocking, no SO_REUSEADDR: the same
 * as node:dgram's udp4 sockets), one uv_poll_t each on the worker's own loop, and one uv_check_t.
 * A readable socket is drained with recvmmsg straight into the next free packet slots, which are
 * the SRTP engine's slots in WebAssembly memory (fixed size, never grown); socket id, length and
 * source of each datagram go into a shared Int32Array. Once per loop iteration (the check phase),
 * or as soon as every slot is full, JS is called ONCE for the whole batch; it works on the slots
 * in place and queues its sends in the same Int32Array, and `flush` sends them, one sendmmsg per
 * run of consecutive sends on one socket. Nothing is allocated per packet here either.
 *
 * Drops are counted, never queued: a truncated datagram is handed on with its real length (JS
 * counts it on its leg), a send that meets EAGAIN is dropped and counted.
 *
 * Int32Array `io` layout (IO_* below; JS mirrors it in udp-batch.ts):
 *   io[0] received count     io[1] send count (JS)    io[2] send failures of the last flush
 *   io[IO_HEADER + 4*i ..]   received datagram i: socket id, length, IPv4 (host order), port
 *   io[send base + 6*j ..]   send j: socket id, byte offset in memory, length, IPv4, port, errno
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define IO_HEADER 8
#define RECV_FIELDS 4
#define SEND_FIELDS 6
#define MAX_BATCH 256
#define MAX_SOCKETS (1 << 20)

/* Float64Array `stats` fields (STAT_* in udp-batch.ts). */
enum {
  ST_BATCHES, ST_RECEIVED, ST_TRUNCATED, ST_RECV_ERRORS, ST_SENT, ST_SEND_EAGAIN, ST_SEND_ERRORS,
  ST_MAX_BATCH, ST_RECV_CALLS, ST_SEND_CALLS, ST_FIELDS
};

typedef struct group group_t;

typedef struct {
  uv_poll_t poll;
  group_t *g;
  int fd;
  int id;
} sock_t;

struct group {
  napi_env env;
  uv_loop_t *loop;
  uv_check_t check;
  napi_ref refs[4]; /* memory, io, stats, callback */
  napi_async_context actx;
  napi_async_cleanup_hook_handle hook;
  uint8_t *mem;
  size_t mem_len;
  int32_t *io;
  size_t io_len;
  double *stats;
  uint32_t *slot_off; /* byte offset of each receive slot in memory (copied) */
  int batch;
  int recv_len;
  int send_cap;
  int used; /* datagrams waiting for the callback */
  int dispatching;
  int closing; /* handles still to close after destroy */
  int destroyed;
  sock_t **socks;
  int nsocks;
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct sockaddr_in addr[MAX_BATCH];
};

/* What JS holds: outlives the group, so a call after destroy fails cleanly. */
typedef struct {
  group_t *g;
} holder_t;

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    if ((call) != napi_ok) return throw_last(env, #call);                                           \
  } while (0)

static napi_value throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    char msg[256];
    snprintf(msg, sizeof msg, "udp-batch: %s failed: %s", what,
             info && info->error_message ? info->error_message : "unknown error");
    napi_throw_error(env, "EUDPBATCH", msg);
  }
  return NULL;
}

static napi_value throw_msg(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

/* An Error like node's system errors: message names the operation, .code the errno name. */
static napi_value throw_errno(napi_env env, int err, const char *what, const char *address, int port) {
  int uverr = uv_translate_sys_error(err);
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s:%d: %s (%s)", what, address, port, uv_strerror(uverr), uv_err_name(uverr));
  napi_value m, code, e, num;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, uv_err_name(uverr), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, m, &e);
  napi_create_int32(env, uverr, &num);
  napi_set_named_property(env, e, "errno", num);
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &m);
  napi_set_named_property(env, e, "syscall", m);
  napi_throw(env, e);
  return NULL;
}

static void sock_closed(uv_handle_t *h);
static void group_free_if_done(group_t *g);

/* ---- receive ------------------------------------------------------------------------------ */

/* One JS call for the datagrams in the slots; then they are free again. */
static void dispatch(group_t *g) {
  if (g->used == 0 || g->dispatching || g->destroyed) return;
  napi_env env = g->env;
  g->io[0] = g->used;
  g->stats[ST_BATCHES] += 1;
  if (g->used > g->stats[ST_MAX_BATCH]) g->stats[ST_MAX_BATCH] = g->used;
  g->dispatching = 1;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    g->dispatching = 0;
    g->used = 0;
    return;
  }
  napi_value cb, recv, result;
  napi_get_reference_value(env, g->refs[3], &cb);
  napi_get_global(env, &recv); /* make_callback wants an object */
  napi_status st = napi_make_callback(env, g->actx, recv, cb, 0, NULL, &result);
  if (st == napi_pending_exception) {
    /* As a throwing 'message' listener would: the worker's uncaughtException. */
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
  g->dispatching = 0;
  g->used = 0;
  if (!g->destroyed) g->io[0] = 0;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  sock_t *s = (sock_t *)h->data;
  group_t *g = s->g;
  (void)events;
  if (g->destroyed) return;
  if (status < 0) {
    /* The socket is broken (never seen for UDP): stop polling it rather than spin. */
    g->stats[ST_RECV_ERRORS] += 1;
    uv_poll_stop(h);
    return;
  }
  if (g->dispatching) return; /* level-triggered: read on the next iteration */
  if (g->used == g->batch) dispatch(g);
  if (g->destroyed) return; /* the callback closed the group */
  int room = g->batch - g->used;
  struct mmsghdr *m = &g->msgs[g->used];
  /* Slot, iovec and address of each entry are fixed at createGroup; the kernel rewrites these. */
  for (int i = 0; i < room; i++) {
    m[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    m[i].msg_hdr.msg_flags = 0;
  }
  g->stats[ST_RECV_CALLS] += 1;
  int n = recvmmsg(s->fd, m, (unsigned)room, MSG_DONTWAIT | MSG_TRUNC, NULL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) g->stats[ST_RECV_ERRORS] += 1;
    return;
  }
  for (int i = 0; i < n; i++) {
    int k = g->used + i;
    int32_t *r = g->io + IO_HEADER + RECV_FIELDS * k;
    int len = (int)m[i].msg_len;
    if (m[i].msg_hdr.msg_flags & MSG_TRUNC) {
      g->stats[ST_TRUNCATED] += 1;
      if (len <= g->recv_len) len = g->recv_len + 1; /* never taken as whole */
    }
    r[0] = s->id;
    r[1] = len;
    r[2] = (int32_t)ntohl(g->addr[k].sin_addr.s_addr);
    r[3] = ntohs(g->addr[k].sin_port);
  }
  g->used += n;
  g->stats[ST_RECEIVED] += n;
  if (g->used == g->batch) dispatch(g);
}

/* After the poll phase: whatever the ready sockets gave this iteration, in one call. */
static void on_check(uv_check_t *h) {
  group_t *g = (group_t *)h->data;
  dispatch(g);
}

/* ---- send ----------------------------------------------------------------------------------- */

static sock_t *sock_of(group_t *g, int id) {
  return id >= 0 && id < g->nsocks ? g->socks[id] : NULL;
}

/* Sends the queued datagrams; returns how many failed (their errno is in the entry). */
static int flush_queue(group_t *g) {
  int count = g->io[1];
  if (count < 0) count = 0;
  if (count > g->send_cap) count = g->send_cap;
  int32_t *q = g->io + IO_HEADER + RECV_FIELDS * g->batch;
  int failures = 0;
  struct mmsghdr msgs[64];
  struct iovec iov[64];
  struct sockaddr_in to[64];
  int j = 0;
  while (j < count) {
    int32_t *e = q + SEND_FIELDS * j;
    sock_t *s = sock_of(g, e[0]);
    uint32_t off = (uint32_t)e[1], len = (uint32_t)e[2];
    if (s == NULL || off > g->mem_len || len > g->mem_len - off) {
      e[5] = s == NULL ? EBADF : EINVAL;
      failures++;
      g->stats[ST_SEND_ERRORS] += 1;
      j++;
      continue;
    }
    /* A run of consecutive sends on one socket: one sendmmsg. */
    int n = 0;
    while (j + n < count && n < 64) {
      int32_t *f = q + SEND_FIELDS * (j + n);
      off = (uint32_t)f[1];
      len = (uint32_t)f[2];
      if (f[0] != e[0] || off > g->mem_len || len > g->mem_len - off) break;
      f[5] = 0;
      iov[n].iov_base = g->mem + off;
      iov[n].iov_len = len;
      memset(&to[n], 0, sizeof to[n]);
      to[n].sin_family = AF_INET;
      to[n].sin_addr.s_addr = htonl((uint32_t)f[3]);
      to[n].sin_port = htons((uint16_t)f[4]);
      memset(&msgs[n], 0, sizeof msgs[n]);
      msgs[n].msg_hdr.msg_name = &to[n];
      msgs[n].msg_hdr.msg_namelen = sizeof to[n];
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      n++;
    }
    int k = 0;
    while (k < n) {
      g->stats[ST_SEND_CALLS] += 1;
      int r = sendmmsg(s->fd, msgs + k, (unsigned)(n - k), MSG_DONTWAIT);
      if (r > 0) {
        g->stats[ST_SENT] += r;
        k += r;
        continue;
      }
      int err = r < 0 ? errno : EIO;
      if (err == EINTR) continue;
      /* Dropped and counted, never queued: the one that failed; the rest of the run goes on. */
      (q + SEND_FIELDS * (j + k))[5] = err;
      failures++;
      g->stats[err == EAGAIN || err == EWOULDBLOCK ? ST_SEND_EAGAIN : ST_SEND_ERRORS] += 1;
      k++;
    }
    j += n;
  }
  g->io[1] = 0;
  g->io[2] = failures;
  return failures;
}

/* ---- JS functions --------------------------------------------------------------------------- */

static group_t *group_arg(napi_env env, napi_value v) {
  holder_t *h = NULL;
  if (napi_get_value_external(env, v, (void **)&h) != napi_ok || h == NULL) {
    throw_msg(env, "EUDPBATCH", "udp-batch: first argument is not a group");
    return NULL;
  }
  if (h->g == NULL) {
    throw_msg(env, "EUDPBATCH", "udp-batch: the group is closed");
    return NULL;
  }
  return h->g;
}

static void close_all(group_t *g);

static void on_async_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  holder_t *h = (holder_t *)arg;
  (void)handle;
  if (h->g) close_all(h->g); /* removes the hook once every handle is closed */
  h->g = NULL;
}

static void holder_finalize(napi_env env, void *data, void *hint) {
  holder_t *h = (holder_t *)data;
  (void)env;
  (void)hint;
  if (h->g) close_all(h->g);
  free(h);
}

static void check_closed(uv_handle_t *h) {
  group_t *g = (group_t *)h->data;
  g->closing--;
  group_free_if_done(g);
}

static void sock_closed(uv_handle_t *h) {
  sock_t *s = (sock_t *)h->data;
  group_t *g = s->g;
  free(s);
  g->closing--;
  group_free_if_done(g);
}

static void group_free_if_done(group_t *g) {
  if (!g->destroyed || g->closing > 0) return;
  if (g->hook) napi_remove_async_cleanup_hook(g->hook);
  free(g->socks);
  free(g->slot_off);
  free(g);
}

/* Closes every socket and the check handle; the group is freed when the last handle is. */
static void close_all(group_t *g) {
  if (g->destroyed) return;
  g->destroyed = 1;
  napi_env env = g->env;
  for (int i = 0; i < 4; i++)
    if (g->refs[i]) napi_delete_reference(env, g->refs[i]);
  if (g->actx) napi_async_destroy(env, g->actx);
  g->closing++; /* the check handle */
  for (int i = 0; i < g->nsocks; i++) {
    sock_t *s = g->socks[i];
    if (!s) continue;
    g->socks[i] = NULL;
    g->closing++;
    uv_close((uv_handle_t *)&s->poll, sock_closed);
    close(s->fd);
  }
  uv_close((uv_handle_t *)&g->check, check_closed);
}

static int typed_i32(napi_env env, napi_value v, int32_t **data, size_t *len) {
  napi_typedarray_type t;
  void *p;
  if (napi_get_typedarray_info(env, v, &t, len, &p, NULL, NULL) != napi_ok || t != napi_int32_array) return 0;
  *data = (int32_t *)p;
  return 1;
}

/* createGroup(memory: ArrayBuffer, slotOffsets: Int32Array, recvLength, io: Int32Array,
 *             stats: Float64Array, onBatch: () => void) → group */
static napi_value create_group(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_msg(env, "EUDPBATCH", "udp-batch: createGroup needs 6 arguments");
  void *mem;
  size_t mem_len;
  bool is_ab = false;
  napi_is_arraybuffer(env, argv[0], &is_ab);
  if (!is_ab) return throw_msg(env, "EUDPBATCH", "udp-batch: memory must be an ArrayBuffer");
  CHECK(napi_get_arraybuffer_info(env, argv[0], &mem, &mem_len));
  int32_t *offs, *io;
  size_t nslots, io_len;
  if (!typed_i32(env, argv[1], &offs, &nslots))
    return throw_msg(env, "EUDPBATCH", "udp-batch: slotOffsets must be an Int32Array");
  int32_t recv_len;
  CHECK(napi_get_value_int32(env, argv[2], &recv_len));
  if (!typed_i32(env, argv[3], &io, &io_len)) return throw_msg(env, "EUDPBATCH", "udp-batch: io must be an Int32Array");
  napi_typedarray_type t;
  size_t stats_len;
  void *stats;
  if (napi_get_typedarray_info(env, argv[4], &t, &stats_len, &stats, NULL, NULL) != napi_ok ||
      t != napi_float64_array || stats_len < ST_FIELDS)
    return throw_msg(env, "EUDPBATCH", "udp-batch: stats must be a Float64Array of 10 or more");
  napi_valuetype cbt;
  napi_typeof(env, argv[5], &cbt);
  if (cbt != napi_function) return throw_msg(env, "EUDPBATCH", "udp-batch: onBatch must be a function");
  if (nslots < 1 || nslots > MAX_BATCH) return throw_msg(env, "EUDPBATCH", "udp-batch: 1 to 256 slots");
  if (recv_len < 1) return throw_msg(env, "EUDPBATCH", "udp-batch: receive length must be positive");
  for (size_t i = 0; i < nslots; i++)
    if (offs[i] < 0 || (size_t)offs[i] + (size_t)recv_len > mem_len)
      return throw_msg(env, "EUDPBATCH", "udp-batch: a slot lies outside the memory");
  int send_cap = (int)nslots;
  if (io_len < (size_t)(IO_HEADER + RECV_FIELDS * nslots + SEND_FIELDS * send_cap))
    return throw_msg(env, "EUDPBATCH", "udp-batch: io is too short for the slots");

  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  group_t *g = calloc(1, sizeof *g);
  holder_t *h = calloc(1, sizeof *h);
  if (!g || !h) {
    free(g);
    free(h);
    return throw_msg(env, "ENOMEM", "udp-batch: out of memory");
  }
  g->slot_off = malloc(nslots * sizeof(uint32_t));
  if (!g->slot_off) {
    free(g);
    free(h);
    return throw_msg(env, "ENOMEM", "udp-batch: out of memory");
  }
  for (size_t i = 0; i < nslots; i++) {
    g->slot_off[i] = (uint32_t)offs[i];
    g->iov[i].iov_base = (uint8_t *)mem + offs[i];
    g->iov[i].iov_len = (size_t)recv_len;
    g->msgs[i].msg_hdr.msg_name = &g->addr[i];
    g->msgs[i].msg_hdr.msg_iov = &g->iov[i];
    g->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  g->env = env;
  g->loop = loop;
  g->mem = mem;
  g->mem_len = mem_len;
  g->io = io;
  g->io_len = io_len;
  g->stats = stats;
  g->batch = (int)nslots;
  g->recv_len = recv_len;
  g->send_cap = send_cap;
  /* Kept alive as long as the group: the memory, io, stats and the callback. */
  napi_value kept[4] = {argv[0], argv[3], argv[4], argv[5]};
  for (int i = 0; i < 4; i++) napi_create_reference(env, kept[i], 1, &g->refs[i]);
  napi_value name;
  napi_create_string_utf8(env, "phone-proxy:udp-batch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &g->actx);
  uv_check_init(loop, &g->check);
  g->check.data = g;
  uv_check_start(&g->check, on_check);
  uv_unref((uv_handle_t *)&g->check);
  h->g = g;
  napi_add_async_cleanup_hook(env, on_async_cleanup, h, &g->hook);
  napi_value ext;
  CHECK(napi_create_external(env, h, holder_finalize, NULL, &ext));
  return ext;
}

/* open(group, id, address, port): a bound, nonblocking IPv4 UDP socket polled for reading. */
static napi_value open_socket(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return throw_msg(env, "EUDPBATCH", "udp-batch: open(group, id, address, port)");
  group_t *g = group_arg(env, argv[0]);
  if (!g) return NULL;
  int32_t id, port;
  char address[64];
  size_t alen;
  CHECK(napi_get_value_int32(env, argv[1], &id));
  CHECK(napi_get_value_string_utf8(env, argv[2], address, sizeof address, &alen));
  CHECK(napi_get_value_int32(env, argv[3], &port));
  if (id < 0 || id >= MAX_SOCKETS) return throw_msg(env, "EUDPBATCH", "udp-batch: socket id out of range");
  if (port < 0 || port > 65535) return throw_errno(env, EINVAL, "bind", address, port);
  if (id < g->nsocks && g->socks[id]) return throw_msg(env, "EUDPBATCH", "udp-batch: socket id in use");
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) return throw_errno(env, EINVAL, "bind", address, port);
  if (id >= g->nsocks) {
    int n = g->nsocks ? g->nsocks : 64;
    while (n <= id) n *= 2;
    sock_t **grown = realloc(g->socks, (size_t)n * sizeof *grown);
    if (!grown) return throw_msg(env, "ENOMEM", "udp-batch: out of memory");
    memset(grown + g->nsocks, 0, (size_t)(n - g->nsocks) * sizeof *grown);
    g->socks = grown;
    g->nsocks = n;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", address, port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind", address, port);
  }
  sock_t *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_msg(env, "ENOMEM", "udp-batch: out of memory");
  }
  s->g = g;
  s->fd = fd;
  s->id = id;
  int rc = uv_poll_init_socket(g->loop, &s->poll, fd);
  if (rc == 0) {
    s->poll.data = s;
    rc = uv_poll_start(&s->poll, UV_READABLE, on_readable);
    if (rc != 0) {
      g->closing++;
      uv_close((uv_handle_t *)&s->poll, sock_closed);
      close(fd);
      return throw_errno(env, -rc, "poll", address, port);
    }
  } else {
    close(fd);
    free(s);
    return throw_errno(env, -rc, "poll", address, port);
  }
  g->socks[id] = s;
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

/* close(group, id): the port is free again when this returns. */
static napi_value close_socket(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  group_t *g = group_arg(env, argv[0]);
  if (!g) return NULL;
  int32_t id;
  CHECK(napi_get_value_int32(env, argv[1], &id));
  sock_t *s = sock_of(g, id);
  if (s) {
    g->socks[id] = NULL;
    g->closing++;
    /* uv_close takes the fd out of epoll now, so closing the fd right after is safe. */
    uv_close((uv_handle_t *)&s->poll, sock_closed);
    close(s->fd);
  }
  return NULL;
}

static napi_value flush(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  group_t *g = group_arg(env, argv[0]);
  if (!g) return NULL;
  napi_value out;
  napi_create_int32(env, flush_queue(g), &out);
  return out;
}

/* sendNow(group, id, bytes: Uint8Array, offset, length, ipv4, port) → 0 or errno: for datagrams
 * outside the memory (held early packets of RTP legs), off the per-packet path. */
static napi_value send_now(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  group_t *g = group_arg(env, argv[0]);
  if (!g) return NULL;
  int32_t id, off, len, ip, port;
  napi_typedarray_type t;
  size_t n;
  void *p;
  CHECK(napi_get_value_int32(env, argv[1], &id));
  if (napi_get_typedarray_info(env, argv[2], &t, &n, &p, NULL, NULL) != napi_ok || t != napi_uint8_array)
    return throw_msg(env, "EUDPBATCH", "udp-batch: sendNow needs a Uint8Array");
  CHECK(napi_get_value_int32(env, argv[3], &off));
  CHECK(napi_get_value_int32(env, argv[4], &len));
  CHECK(napi_get_value_int32(env, argv[5], &ip));
  CHECK(napi_get_value_int32(env, argv[6], &port));
  int err = 0;
  sock_t *s = sock_of(g, id);
  if (!s) err = EBADF;
  else if (off < 0 || len < 0 || (size_t)off + (size_t)len > n) err = EINVAL;
  else {
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl((uint32_t)ip);
    to.sin_port = htons((uint16_t)port);
    if (sendto(s->fd, (uint8_t *)p + off, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to) < 0) err = errno;
  }
  if (err == 0) g->stats[ST_SENT] += 1;
  else g->stats[err == EAGAIN || err == EWOULDBLOCK ? ST_SEND_EAGAIN : ST_SEND_ERRORS] += 1;
  napi_value out;
  napi_create_int32(env, err, &out);
  return out;
}

/* localPort(group, id): the bound port (tests bind port 0). */
static napi_value local_port(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  group_t *g = group_arg(env, argv[0]);
  if (!g) return NULL;
  int32_t id;
  CHECK(napi_get_value_int32(env, argv[1], &id));
  sock_t *s = sock_of(g, id);
  if (!s) return throw_msg(env, "EBADF", "udp-batch: no such socket");
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  if (getsockname(s->fd, (struct sockaddr *)&sa, &sl) < 0) return throw_errno(env, errno, "getsockname", "-", 0);
  napi_value out;
  napi_create_int32(env, ntohs(sa.sin_port), &out);
  return out;
}

static napi_value destroy_group(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  holder_t *h = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&h) != napi_ok || !h)
    return throw_msg(env, "EUDPBATCH", "udp-batch: first argument is not a group");
  if (h->g) close_all(h->g);
  h->g = NULL;
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"createGroup", NULL, create_group, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, open_socket, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_socket, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, flush, NULL, NULL, NULL, napi_default, NULL},
      {"sendNow", NULL, send_now, NULL, NULL, NULL, napi_default, NULL},
      {"localPort", NULL, local_port, NULL, NULL, NULL, napi_default, NULL},
      {"destroyGroup", NULL, destroy_group, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_int32(env, IO_HEADER, &v);
  napi_set_named_property(env, exports, "IO_HEADER", v);
  napi_create_int32(env, ST_FIELDS, &v);
  napi_set_named_property(env, exports, "STAT_FIELDS", v);
  return exports;
}
