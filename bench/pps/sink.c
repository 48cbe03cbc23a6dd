/*
 * Sink of the pps benchmark (bench/pps.ts builds it with `cc`): one UDP socket per lane, read
 * BATCH datagrams per recvmmsg(2) once a millisecond, every byte checked (rtp-load.h's pattern; SRTP lanes are
 * first authenticated and decrypted with Debian's libsrtp2, one session per call's SSRC).
 *
 *   sink <ip>:<rtp|srtp80|gcm128|gcm256>:<ssrc-base>:<calls> ...
 *
 * Prints `ports <p1> <p2> ...` once bound; then on stdin `count` answers
 * `count <good1> <bad1> <good2> <bad2> ...` (totals since start); `quit` exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtp-load.h"

#define MAX_LANES 8

struct lane {
  int fd;
  char suite[16];
  uint32_t ssrc_base;
  int calls;
  srtp_t *sessions;
  long long good, bad;
};

static void drain(struct lane *l) {
  static uint8_t bufs[BATCH][PKT_ROOM];
  static struct iovec iov[BATCH];
  static struct mmsghdr msgs[BATCH];
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = PKT_ROOM;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(l->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    for (int i = 0; i < n; i++) {
      uint8_t *p = bufs[i];
      int len = (int)msgs[i].msg_len;
      if (l->sessions) {
        uint32_t ssrc = len >= 12 ? ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11] : 0;
        uint32_t call = ssrc - l->ssrc_base;
        if (len < 12 || call >= (uint32_t)l->calls || srtp_unprotect(l->sessions[call], p, &len) != srtp_err_status_ok) {
          l->bad++;
          continue;
        }
      }
      if (check_rtp(p, len)) l->good++;
      else l->bad++;
    }
    if (n < BATCH) return;
  }
}

int main(int argc, char **argv) {
  static struct lane lanes[MAX_LANES];
  int nl = argc - 1;
  if (nl < 1 || nl > MAX_LANES) {
    fprintf(stderr, "usage: sink <ip>:<suite>:<ssrc-base>:<calls> ...\n");
    return 2;
  }
  if (srtp_init() != srtp_err_status_ok) return 1;
  printf("ports");
  for (int i = 0; i < nl; i++) {
    struct lane *l = &lanes[i];
    char ip[64];
    unsigned long base = 0;
    if (sscanf(argv[i + 1], "%63[^:]:%15[^:]:%li:%d", ip, l->suite, (long *)&base, &l->calls) != 4 ||
        suite_key_bytes(l->suite) < 0 || l->calls < 1 || l->calls > MAX_CALLS) {
      fprintf(stderr, "sink: bad lane %s\n", argv[i + 1]);
      return 2;
    }
    l->ssrc_base = (uint32_t)base;
    if (suite_key_bytes(l->suite) > 0) {
      l->sessions = calloc((size_t)l->calls, sizeof *l->sessions);
      for (int c = 0; c < l->calls; c++) l->sessions[c] = call_session(l->suite, l->ssrc_base + (uint32_t)c, c, 0);
    }
    struct sockaddr_in a = {.sin_family = AF_INET};
    l->fd = socket(AF_INET, SOCK_DGRAM, 0);
    int rcvbuf = 16 << 20;
    if (setsockopt(l->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
      setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    socklen_t alen = sizeof a;
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1 || bind(l->fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(l->fd, (struct sockaddr *)&a, &alen) < 0) {
      perror("sink: bind");
      return 1;
    }
    printf(" %d", ntohs(a.sin_port));
  }
  printf("\n");
  fflush(stdout);

  /*
   * Drain every lane each millisecond instead of sleeping in poll() on the sockets: a receiver
   * waiting on a loopback socket is woken by each sender's sendmsg (the relay's), which charges
   * the relay for a cross-CPU wake-up per packet that a NIC would never cost it. 1 ms at 200k pps
   * is 200 packets, far inside the 16 MB receive buffers.
   */
  struct pollfd pfd = {.fd = 0, .events = POLLIN};
  char line[64];
  for (;;) {
    int r = poll(&pfd, 1, 1);
    if (r < 0 && errno != EINTR) return 1;
    for (int i = 0; i < nl; i++) drain(&lanes[i]);
    if (r > 0 && (pfd.revents & (POLLIN | POLLHUP))) {
      ssize_t n = read(0, line, sizeof line - 1);
      if (n <= 0 || strncmp(line, "quit", 4) == 0) return 0;
      for (int i = 0; i < nl; i++) drain(&lanes[i]);
      printf("count");
      for (int i = 0; i < nl; i++) printf(" %lld %lld", lanes[i].good, lanes[i].bad);
      printf("\n");
      fflush(stdout);
    }
  }
}
