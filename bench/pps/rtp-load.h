/*
 * What the pps benchmark's C load generator (loadgen.c) sends and its C sink (sink.c) checks:
 * 172-byte G.711-sized RTP packets, one SSRC per call, whose 160 payload bytes are a function
 * of SSRC and sequence number, so the sink can check every byte without state. SRTP suites and
 * the key of call i (every byte i + 1, as bench/pps.ts gives the relays) are shared too.
 */
#ifndef PPS_RTP_LOAD_H
#define PPS_RTP_LOAD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <srtp2/srtp.h>

#define RTP_HEADER 12
#define RTP_PAYLOAD 160
#define RTP_BYTES (RTP_HEADER + RTP_PAYLOAD)
/* Room for the longest tag (GCM: 16 bytes) and a receive buffer larger than any packet. */
#define PKT_ROOM 2048
#define MAX_CALLS 4096
#define BATCH 64

static inline uint8_t payload_byte(uint32_t ssrc, uint16_t seq, int k) {
  return (uint8_t)((ssrc * 7u) + seq + (unsigned)k * 13u);
}

static inline void fill_rtp(uint8_t *p, uint32_t ssrc, uint16_t seq) {
  p[0] = 0x80;
  p[1] = 0; /* PCMU */
  p[2] = (uint8_t)(seq >> 8);
  p[3] = (uint8_t)seq;
  uint32_t ts = (uint32_t)seq * 160u;
  p[4] = (uint8_t)(ts >> 24), p[5] = (uint8_t)(ts >> 16), p[6] = (uint8_t)(ts >> 8), p[7] = (uint8_t)ts;
  p[8] = (uint8_t)(ssrc >> 24), p[9] = (uint8_t)(ssrc >> 16), p[10] = (uint8_t)(ssrc >> 8), p[11] = (uint8_t)ssrc;
  for (int k = 0; k < RTP_PAYLOAD; k++) p[RTP_HEADER + k] = payload_byte(ssrc, seq, k);
}

/* 1 when `p` (n bytes of plain RTP) is exactly what fill_rtp made for its own SSRC and sequence. */
static inline int check_rtp(const uint8_t *p, int n) {
  if (n != RTP_BYTES || p[0] != 0x80 || p[1] != 0) return 0;
  uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
  uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
  for (int k = 0; k < RTP_PAYLOAD; k++)
    if (p[RTP_HEADER + k] != payload_byte(ssrc, seq, k)) return 0;
  return 1;
}

/* "rtp" (no crypto), "srtp80" (AES_CM_128_HMAC_SHA1_80), "gcm128", "gcm256"; key bytes or -1. */
static inline int suite_key_bytes(const char *suite) {
  if (strcmp(suite, "rtp") == 0) return 0;
  if (strcmp(suite, "srtp80") == 0) return 30;
  if (strcmp(suite, "gcm128") == 0) return 28;
  if (strcmp(suite, "gcm256") == 0) return 44;
  return -1;
}

/* A libsrtp session for one call's SSRC, keyed with every byte = call + 1. */
static inline srtp_t call_session(const char *suite, uint32_t ssrc, int call, int outbound) {
  srtp_policy_t policy;
  memset(&policy, 0, sizeof policy);
  if (strcmp(suite, "srtp80") == 0) {
    srtp_crypto_policy_set_rtp_default(&policy.rtp);
    srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  } else if (strcmp(suite, "gcm128") == 0) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
  }
  static uint8_t key[64];
  memset(key, call + 1, sizeof key);
  policy.key = key;
  policy.ssrc.type = ssrc_specific;
  policy.ssrc.value = ssrc;
  policy.window_size = 1024;
  policy.allow_repeat_tx = 0;
  (void)outbound;
  srtp_t s = NULL;
  if (srtp_create(&s, &policy) != srtp_err_status_ok) {
    fprintf(stderr, "srtp_create failed for call %d (suite %s)\n", call, suite);
    exit(1);
  }
  return s;
}

#endif
