/*
 * Load generator of the pps benchmark (bench/pps.ts builds it with `cc` and drives it): K calls
 * of RTP, protected with Debian's libsrtp2 when asked, from one UDP socket to K destination
 * ports, paced to a rate and sent BATCH datagrams per sendmmsg(2). Written in C so that at
 * 150k+ packets/s the generator, not the relay under test, is never the bottleneck.
 *
 *   loadgen <src-ip> <dst-ip> <rtp|srtp80|gcm128|gcm256> <ssrc-base> <port>[,<port>...]
 *
 * Then, on stdin, one command per line: `run <pps> <ms>` offers <pps> for <ms> and answers
 * `sent <packets>` on stdout; `quit` exits. Sequence numbers continue across runs, so the
 * relay's replay windows never see a packet twice.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rtp-load.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: loadgen <src-ip> <dst-ip> <rtp|srtp80|gcm128|gcm256> <ssrc-base> <ports>\n");
    return 2;
  }
  const char *suite = argv[3];
  if (suite_key_bytes(suite) < 0) {
    fprintf(stderr, "loadgen: unknown suite %s\n", suite);
    return 2;
  }
  uint32_t ssrc_base = (uint32_t)strtoul(argv[4], NULL, 0);
  static struct sockaddr_in dst[MAX_CALLS];
  int calls = 0;
  for (char *tok = strtok(argv[5], ","); tok && calls < MAX_CALLS; tok = strtok(NULL, ",")) {
    dst[calls].sin_family = AF_INET;
    dst[calls].sin_port = htons((uint16_t)atoi(tok));
    if (inet_pton(AF_INET, argv[2], &dst[calls].sin_addr) != 1) return 2;
    calls++;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in src = {.sin_family = AF_INET};
  if (fd < 0 || inet_pton(AF_INET, argv[1], &src.sin_addr) != 1 || bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
    perror("loadgen: socket/bind");
    return 1;
  }
  int sndbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  int crypto = suite_key_bytes(suite) > 0;
  if (crypto && srtp_init() != srtp_err_status_ok) return 1;
  static srtp_t sessions[MAX_CALLS];
  static uint16_t seq[MAX_CALLS];
  for (int i = 0; i < calls; i++) {
    if (crypto) sessions[i] = call_session(suite, ssrc_base + (uint32_t)i, i, 1);
    seq[i] = (uint16_t)(i * 977);
  }

  /* Packets of one run, made (and protected) before its clock starts: the timed loop only sends. */
  enum { SLOT = 192 };
  uint8_t *pkts = NULL;
  int *lens = NULL;
  int *dsts = NULL;
  long long room = 0;
  static struct iovec iov[BATCH];
  static struct mmsghdr msgs[BATCH];
  int call = 0;
  char line[128];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    double pps = 0, ms = 0;
    if (strncmp(line, "quit", 4) == 0) break;
    if (sscanf(line, "run %lf %lf", &pps, &ms) != 2 || pps <= 0 || ms <= 0) {
      fprintf(stderr, "loadgen: bad command %s", line);
      continue;
    }
    long long total = (long long)(pps * ms / 1000) + BATCH;
    if (total > room) {
      free(pkts), free(lens), free(dsts);
      pkts = malloc((size_t)total * SLOT);
      lens = malloc((size_t)total * sizeof *lens);
      dsts = malloc((size_t)total * sizeof *dsts);
      if (!pkts || !lens || !dsts) return 1;
      room = total;
    }
    for (long long i = 0; i < total; i++) {
      uint8_t *p = pkts + i * SLOT;
      fill_rtp(p, ssrc_base + (uint32_t)call, ++seq[call]);
      int len = RTP_BYTES;
      if (crypto && srtp_protect(sessions[call], p, &len) != srtp_err_status_ok) {
        fprintf(stderr, "loadgen: srtp_protect failed\n");
        return 1;
      }
      lens[i] = len;
      dsts[i] = call;
      call = call + 1 == calls ? 0 : call + 1;
    }
    long long sent = 0;
    double t0 = now_s();
    for (;;) {
      double el = now_s() - t0;
      if (el * 1000 >= ms) break;
      long long due = (long long)(pps * el);
      if (due > total) due = total;
      if (sent >= due) {
        /* Ahead of the schedule: sleep about one batch's worth (at most 1 ms). */
        double gap = BATCH / pps;
        struct timespec ts = {0, (long)((gap < 0.001 ? gap : 0.001) * 1e9)};
        nanosleep(&ts, NULL);
        continue;
      }
      int n = 0;
      for (; n < BATCH && sent + n < due; n++) {
        long long i = sent + n;
        iov[n].iov_base = pkts + i * SLOT;
        iov[n].iov_len = (size_t)lens[i];
        memset(&msgs[n].msg_hdr, 0, sizeof msgs[n].msg_hdr);
        msgs[n].msg_hdr.msg_name = &dst[dsts[i]];
        msgs[n].msg_hdr.msg_namelen = sizeof dst[0];
        msgs[n].msg_hdr.msg_iov = &iov[n];
        msgs[n].msg_hdr.msg_iovlen = 1;
      }
      int off = 0;
      while (off < n) {
        int r = sendmmsg(fd, msgs + off, (unsigned)(n - off), 0);
        if (r < 0) {
          if (errno == EINTR) continue;
          /* ENOBUFS and the like: those packets are offered and lost (the sink's count shows it). */
          break;
        }
        off += r;
      }
      sent += n;
    }
    /* What was made and not sent would repeat sequence numbers next run: the sink sees a gap instead. */
    printf("sent %lld\n", sent);
  }
  return 0;
}
