/*
 * shim.c: the only C in this project. It exports exactly what wasm/srtp.ts
 * needs from libsrtp, with integers at the boundary:
 *
 *   pp_init                       srtp_init() + silence libsrtp's error printer
 *   pp_slot_base/size/count       fixed packet slots in linear memory
 *   pp_key_buf                    64-byte scratch buffer for master key||salt
 *   pp_state_buf                  8-byte out buffer for pp_stream_state
 *   pp_session_create/destroy     one srtp_t per (profile, key, direction),
 *                                 wildcard SSRC (ssrc_any_inbound/outbound)
 *   pp_session_update             srtp_update(): new key, ROC and replay state kept
 *   pp_{un,}protect_rtp{,cp}      in place on a slot; return new length or -code
 *   pp_stream_state               ROC and highest sequence number of one SSRC
 *   pp_heap_used                  bytes malloc'd (for bytes-per-stream figures)
 *   pp_aes_cm_kat                 raw AES-CM keystream of libsrtp's own cipher
 *                                 (RFC 3711 B.2 known-answer test only)
 *
 * HMAC-SHA1: pp_init registers pp_hmac_sha1 in place of libsrtp's built-in HMAC
 * through libsrtp's public srtp_replace_auth_type(). It keeps both the inner and the
 * outer pad states precomputed per key (libsrtp's hmac.c rehashes the 64-byte opad
 * block for every packet: one of the five SHA-1 compressions of a 172-byte packet),
 * and hashes with an unrolled SHA-1 written for WebAssembly (below). libsrtp runs its
 * own HMAC test case and ours (RFC 2202 cases 1-2) against it before accepting it.
 *
 * Return codes: >= 0 success (a length or a handle); negative values are
 * -srtp_err_status_t (1..27) or the shim's own codes below (-64...).
 * Nothing here prints, aborts or grows memory.
 */
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include "srtp.h"
#include "srtp_priv.h"
#include "crypto_kernel.h"
#include "cipher.h"
#include "auth.h"
#include "alloc.h"

#define PP_SLOT_SIZE 2048
#define PP_SLOT_COUNT 64
/* SRTCP appends a 4-byte E||index before the tag; MKI is never configured but
 * libsrtp documents that it may write SRTP_MAX_TRAILER_LEN, so keep that room. */
#define PP_MAX_IN (PP_SLOT_SIZE - SRTP_MAX_TRAILER_LEN - 4)
#define PP_MAX_SESSIONS 65536

/* Shim error codes (libsrtp's own codes are 1..27). */
#define PP_ERR_TOO_LONG 64
#define PP_ERR_BAD_SLOT 65
#define PP_ERR_BAD_VERSION 66
#define PP_ERR_TOO_SHORT 67
#define PP_ERR_TABLE_FULL 68

#define EXPORT __attribute__((visibility("default"), used))

static uint8_t pp_slots[PP_SLOT_COUNT][PP_SLOT_SIZE] __attribute__((aligned(16)));
static uint8_t pp_key[64] __attribute__((aligned(16)));
static uint32_t pp_state[2];

/* Handle = generation << 16 | index, so a destroyed handle never reaches a
 * session that later reuses its table entry. Generations use 15 bits: handles
 * stay non-negative int32. */
static srtp_t pp_sessions[PP_MAX_SESSIONS];
static uint16_t pp_generation[PP_MAX_SESSIONS];
static uint32_t pp_next_free;

static void pp_silent(srtp_log_level_t level, const char *msg, void *data)
{
    (void)level;
    (void)msg;
    (void)data;
}

static void pp_err_silent(srtp_err_reporting_level_t level, const char *msg)
{
    (void)level;
    (void)msg;
}

/* ---- SHA-1 (FIPS 180-4), fully unrolled ----
 * Written for WebAssembly: the 16-word message schedule is indexed with constants
 * only, so after unrolling it lives in locals (registers) instead of a W[80] array in
 * linear memory (libsrtp's sha1.c), and whole blocks are read straight from the
 * packet instead of being copied byte by byte into a buffer first. */

typedef struct {
    uint32_t h[5];
    uint32_t buflen;
    uint64_t total; /* octets hashed */
    uint8_t buf[64];
} pp_sha1_t;

#define PP_ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define PP_BLK(t)                                                              \
    (w[(t)&15] = PP_ROL(w[((t) + 13) & 15] ^ w[((t) + 8) & 15] ^               \
                            w[((t) + 2) & 15] ^ w[(t)&15],                     \
                        1))
#define PP_CH(b, c, d) ((((c) ^ (d)) & (b)) ^ (d))
#define PP_PAR(b, c, d) ((b) ^ (c) ^ (d))
#define PP_MAJ(b, c, d) ((((b) | (c)) & (d)) | ((b) & (c)))
#define PP_R0(a, b, c, d, e, t)                                                \
    e += PP_CH(b, c, d) + w[t] + 0x5a827999u + PP_ROL(a, 5);                   \
    b = PP_ROL(b, 30);
#define PP_R1(a, b, c, d, e, t)                                                \
    e += PP_CH(b, c, d) + PP_BLK(t) + 0x5a827999u + PP_ROL(a, 5);              \
    b = PP_ROL(b, 30);
#define PP_R2(a, b, c, d, e, t)                                                \
    e += PP_PAR(b, c, d) + PP_BLK(t) + 0x6ed9eba1u + PP_ROL(a, 5);             \
    b = PP_ROL(b, 30);
#define PP_R3(a, b, c, d, e, t)                                                \
    e += PP_MAJ(b, c, d) + PP_BLK(t) + 0x8f1bbcdcu + PP_ROL(a, 5);             \
    b = PP_ROL(b, 30);
#define PP_R4(a, b, c, d, e, t)                                                \
    e += PP_PAR(b, c, d) + PP_BLK(t) + 0xca62c1d6u + PP_ROL(a, 5);             \
    b = PP_ROL(b, 30);
/* five rounds: the variables rotate by one position per round */
#define PP_R5(R, t)                                                            \
    R(a, b, c, d, e, (t)) R(e, a, b, c, d, (t) + 1) R(d, e, a, b, c, (t) + 2)  \
        R(c, d, e, a, b, (t) + 3) R(b, c, d, e, a, (t) + 4)

static inline uint32_t pp_load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void pp_sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[16];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    int i;
    for (i = 0; i < 16; i++)
        w[i] = pp_load_be32(p + 4 * i);
    PP_R5(PP_R0, 0) PP_R5(PP_R0, 5) PP_R5(PP_R0, 10)
    PP_R0(a, b, c, d, e, 15) PP_R1(e, a, b, c, d, 16) PP_R1(d, e, a, b, c, 17)
    PP_R1(c, d, e, a, b, 18) PP_R1(b, c, d, e, a, 19)
    PP_R5(PP_R2, 20) PP_R5(PP_R2, 25) PP_R5(PP_R2, 30) PP_R5(PP_R2, 35)
    PP_R5(PP_R3, 40) PP_R5(PP_R3, 45) PP_R5(PP_R3, 50) PP_R5(PP_R3, 55)
    PP_R5(PP_R4, 60) PP_R5(PP_R4, 65) PP_R5(PP_R4, 70) PP_R5(PP_R4, 75)
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void pp_sha1_init(pp_sha1_t *s)
{
    s->h[0] = 0x67452301u;
    s->h[1] = 0xefcdab89u;
    s->h[2] = 0x98badcfeu;
    s->h[3] = 0x10325476u;
    s->h[4] = 0xc3d2e1f0u;
    s->buflen = 0;
    s->total = 0;
}

static void pp_sha1_update(pp_sha1_t *s, const uint8_t *p, uint32_t n)
{
    s->total += n;
    if (s->buflen > 0) {
        uint32_t k = 64 - s->buflen;
        if (k > n)
            k = n;
        memcpy(s->buf + s->buflen, p, k);
        s->buflen += k;
        p += k;
        n -= k;
        if (s->buflen < 64)
            return;
        pp_sha1_block(s->h, s->buf);
        s->buflen = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        pp_sha1_block(s->h, p);
    if (n > 0) {
        memcpy(s->buf, p, n);
        s->buflen = n;
    }
}

static void pp_sha1_final(pp_sha1_t *s, uint8_t out[20])
{
    uint64_t bits = s->total * 8;
    uint32_t i = s->buflen;
    int k;
    s->buf[i++] = 0x80;
    if (i > 56) {
        memset(s->buf + i, 0, 64 - i);
        pp_sha1_block(s->h, s->buf);
        i = 0;
    }
    memset(s->buf + i, 0, 56 - i);
    for (k = 0; k < 8; k++)
        s->buf[56 + k] = (uint8_t)(bits >> (56 - 8 * k));
    pp_sha1_block(s->h, s->buf);
    for (k = 0; k < 5; k++) {
        out[4 * k] = (uint8_t)(s->h[k] >> 24);
        out[4 * k + 1] = (uint8_t)(s->h[k] >> 16);
        out[4 * k + 2] = (uint8_t)(s->h[k] >> 8);
        out[4 * k + 3] = (uint8_t)s->h[k];
    }
}

/* ---- HMAC-SHA1 (RFC 2104) with precomputed inner and outer states ---- */

typedef struct {
    pp_sha1_t inner0; /* state after hashing key ^ ipad */
    pp_sha1_t outer0; /* state after hashing key ^ opad */
    pp_sha1_t ctx;    /* running inner hash of the current message */
} pp_hmac_state_t;

extern const srtp_auth_type_t pp_hmac_sha1;

static srtp_err_status_t pp_hmac_alloc(srtp_auth_t **a, int key_len, int out_len)
{
    uint8_t *p;
    if (key_len < 0 || key_len > 20 || out_len < 0 || out_len > 20)
        return srtp_err_status_bad_param;
    p = (uint8_t *)srtp_crypto_alloc(sizeof(srtp_auth_t) + sizeof(pp_hmac_state_t));
    if (p == NULL)
        return srtp_err_status_alloc_fail;
    *a = (srtp_auth_t *)p;
    (*a)->type = &pp_hmac_sha1;
    (*a)->state = p + sizeof(srtp_auth_t);
    (*a)->out_len = out_len;
    (*a)->key_len = key_len;
    (*a)->prefix_len = 0;
    return srtp_err_status_ok;
}

static srtp_err_status_t pp_hmac_dealloc(srtp_auth_t *a)
{
    memset(a, 0, sizeof(srtp_auth_t) + sizeof(pp_hmac_state_t));
    srtp_crypto_free(a);
    return srtp_err_status_ok;
}

static srtp_err_status_t pp_hmac_init(void *statev, const uint8_t *key, int key_len)
{
    pp_hmac_state_t *st = (pp_hmac_state_t *)statev;
    uint8_t pad[64];
    int i;
    if (key_len < 0 || key_len > 20)
        return srtp_err_status_bad_param;
    for (i = 0; i < 64; i++)
        pad[i] = (uint8_t)((i < key_len ? key[i] : 0) ^ 0x36);
    pp_sha1_init(&st->inner0);
    pp_sha1_update(&st->inner0, pad, 64);
    for (i = 0; i < 64; i++)
        pad[i] = (uint8_t)((i < key_len ? key[i] : 0) ^ 0x5c);
    pp_sha1_init(&st->outer0);
    pp_sha1_update(&st->outer0, pad, 64);
    memset(pad, 0, sizeof(pad));
    st->ctx = st->inner0;
    return srtp_err_status_ok;
}

static srtp_err_status_t pp_hmac_start(void *statev)
{
    pp_hmac_state_t *st = (pp_hmac_state_t *)statev;
    st->ctx = st->inner0;
    return srtp_err_status_ok;
}

static srtp_err_status_t pp_hmac_update(void *statev, const uint8_t *msg, int octets)
{
    pp_hmac_state_t *st = (pp_hmac_state_t *)statev;
    if (octets < 0)
        return srtp_err_status_bad_param;
    pp_sha1_update(&st->ctx, msg, (uint32_t)octets);
    return srtp_err_status_ok;
}

/* Finish the message with msg (libsrtp passes the ROC here), tag = first tag_len
 * octets of SHA1(key ^ opad || SHA1(key ^ ipad || message)). */
static srtp_err_status_t pp_hmac_compute(void *statev, const uint8_t *msg, int octets,
                                         int tag_len, uint8_t *result)
{
    pp_hmac_state_t *st = (pp_hmac_state_t *)statev;
    uint8_t inner[20], outer[20];
    pp_sha1_t o;
    if (octets < 0 || tag_len < 0 || tag_len > 20)
        return srtp_err_status_bad_param;
    pp_sha1_update(&st->ctx, msg, (uint32_t)octets);
    pp_sha1_final(&st->ctx, inner);
    o = st->outer0;
    pp_sha1_update(&o, inner, 20);
    pp_sha1_final(&o, outer);
    memcpy(result, outer, (size_t)tag_len);
    return srtp_err_status_ok;
}

/* RFC 2202 section 3, test cases 1 and 2 (checked by libsrtp when the type is
 * registered, together with libsrtp's own HMAC test case). */
static const uint8_t pp_rfc2202_key1[20] = {
    0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
    0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b
};
static const uint8_t pp_rfc2202_data1[8] = { 'H', 'i', ' ', 'T', 'h', 'e', 'r', 'e' };
static const uint8_t pp_rfc2202_tag1[20] = {
    0xb6, 0x17, 0x31, 0x86, 0x55, 0x05, 0x72, 0x64, 0xe2, 0x8b,
    0xc0, 0xb6, 0xfb, 0x37, 0x8c, 0x8e, 0xf1, 0x46, 0xbe, 0x00
};
static const uint8_t pp_rfc2202_key2[4] = { 'J', 'e', 'f', 'e' };
static const uint8_t pp_rfc2202_data2[28] = {
    'w', 'h', 'a', 't', ' ', 'd', 'o', ' ', 'y', 'a', ' ', 'w', 'a', 'n',
    't', ' ', 'f', 'o', 'r', ' ', 'n', 'o', 't', 'h', 'i', 'n', 'g', '?'
};
static const uint8_t pp_rfc2202_tag2[20] = {
    0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74,
    0x16, 0xd5, 0xf1, 0x84, 0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79
};
static const srtp_auth_test_case_t pp_hmac_test2 = {
    4, pp_rfc2202_key2, 28, pp_rfc2202_data2, 20, pp_rfc2202_tag2, NULL
};
static const srtp_auth_test_case_t pp_hmac_test1 = {
    20, pp_rfc2202_key1, 8, pp_rfc2202_data1, 20, pp_rfc2202_tag1, &pp_hmac_test2
};

const srtp_auth_type_t pp_hmac_sha1 = {
    pp_hmac_alloc,  pp_hmac_dealloc, pp_hmac_init,
    pp_hmac_compute, pp_hmac_update, pp_hmac_start,
    "HMAC-SHA1 (precomputed pads, unrolled SHA-1)",
    &pp_hmac_test1, SRTP_HMAC_SHA1
};

EXPORT int32_t pp_init(void)
{
    srtp_err_status_t st = srtp_init();
    if (st != srtp_err_status_ok)
        return -(int32_t)st;
    srtp_install_err_report_handler(pp_err_silent);
    srtp_install_log_handler(pp_silent, NULL);
    st = srtp_replace_auth_type(&pp_hmac_sha1, SRTP_HMAC_SHA1);
    if (st != srtp_err_status_ok)
        return -(int32_t)st;
    return 0;
}

EXPORT uint8_t *pp_slot_base(void) { return &pp_slots[0][0]; }
EXPORT int32_t pp_slot_size(void) { return PP_SLOT_SIZE; }
EXPORT int32_t pp_slot_count(void) { return PP_SLOT_COUNT; }
EXPORT int32_t pp_max_in(void) { return PP_MAX_IN; }
EXPORT uint8_t *pp_key_buf(void) { return pp_key; }
EXPORT uint32_t *pp_state_buf(void) { return pp_state; }
EXPORT int32_t pp_max_sessions(void) { return PP_MAX_SESSIONS; }

EXPORT int32_t pp_heap_used(void)
{
    struct mallinfo mi = mallinfo();
    return (int32_t)mi.uordblks;
}

/* Profiles: the order is the binding's PROFILE_IDS table. */
static int pp_policy(srtp_policy_t *p, int32_t profile, int32_t key_len)
{
    memset(p, 0, sizeof(*p));
    switch (profile) {
    case 0: /* AES_CM_128_HMAC_SHA1_80 */
        if (key_len != 30)
            return 0;
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        break;
    case 1: /* AES_CM_128_HMAC_SHA1_32: SRTCP keeps the 80-bit tag (RFC 4568 6.2) */
        if (key_len != 30)
            return 0;
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        break;
    case 2: /* AES_256_CM_HMAC_SHA1_80 (RFC 6188) */
        if (key_len != 46)
            return 0;
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
        break;
    case 3: /* NULL_HMAC_SHA1_80: authentication only, AES-128 key derivation */
        if (key_len != 30)
            return 0;
        srtp_crypto_policy_set_null_cipher_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_null_cipher_hmac_sha1_80(&p->rtcp);
        break;
    default:
        return 0;
    }
    p->key = pp_key;
    p->window_size = 128;
    p->allow_repeat_tx = 0;
    return 1;
}

static srtp_t pp_lookup(int32_t h)
{
    if (h < 0)
        return NULL;
    uint32_t idx = (uint32_t)h & 0xffff;
    if (pp_generation[idx] != (uint16_t)((uint32_t)h >> 16))
        return NULL;
    return pp_sessions[idx];
}

EXPORT int32_t pp_session_create(int32_t profile, int32_t outbound, int32_t key_len)
{
    srtp_policy_t p;
    if (!pp_policy(&p, profile, key_len))
        return -(int32_t)srtp_err_status_bad_param;
    p.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;

    uint32_t idx = pp_next_free, n;
    for (n = 0; n < PP_MAX_SESSIONS; n++, idx = (idx + 1) % PP_MAX_SESSIONS) {
        if (pp_sessions[idx] == NULL)
            break;
    }
    if (n == PP_MAX_SESSIONS)
        return -PP_ERR_TABLE_FULL;

    srtp_t s = NULL;
    srtp_err_status_t st = srtp_create(&s, &p);
    memset(pp_key, 0, sizeof(pp_key));
    if (st != srtp_err_status_ok)
        return -(int32_t)st;
    pp_sessions[idx] = s;
    pp_next_free = (idx + 1) % PP_MAX_SESSIONS;
    return (int32_t)(((uint32_t)pp_generation[idx] << 16) | idx);
}

EXPORT int32_t pp_session_destroy(int32_t h)
{
    srtp_t s = pp_lookup(h);
    if (s == NULL)
        return -(int32_t)srtp_err_status_no_ctx;
    uint32_t idx = (uint32_t)h & 0xffff;
    pp_sessions[idx] = NULL;
    pp_generation[idx] = (uint16_t)((pp_generation[idx] + 1) & 0x7fff);
    return -(int32_t)srtp_dealloc(s);
}

/* New master key for every stream of the session; libsrtp's
 * update_template_streams keeps each stream's ROC/sequence and SRTCP index. */
EXPORT int32_t pp_session_update(int32_t h, int32_t profile, int32_t outbound,
                                 int32_t key_len)
{
    srtp_t s = pp_lookup(h);
    srtp_policy_t p;
    if (s == NULL) {
        memset(pp_key, 0, sizeof(pp_key));
        return -(int32_t)srtp_err_status_no_ctx;
    }
    if (!pp_policy(&p, profile, key_len)) {
        memset(pp_key, 0, sizeof(pp_key));
        return -(int32_t)srtp_err_status_bad_param;
    }
    p.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    srtp_err_status_t st = srtp_update(s, &p);
    memset(pp_key, 0, sizeof(pp_key));
    return -(int32_t)st;
}

/* Common checks for the packet path: handle, slot, length, RTP version 2. */
#define PP_PACKET_CHECKS(min_len, max_len)                                     \
    srtp_t s = pp_lookup(h);                                                   \
    if (s == NULL)                                                             \
        return -(int32_t)srtp_err_status_no_ctx;                               \
    if ((uint32_t)slot >= PP_SLOT_COUNT)                                       \
        return -PP_ERR_BAD_SLOT;                                               \
    if (len > (max_len))                                                       \
        return -PP_ERR_TOO_LONG;                                               \
    if (len < (min_len))                                                       \
        return -PP_ERR_TOO_SHORT;                                              \
    uint8_t *pkt = pp_slots[slot];                                             \
    if ((pkt[0] >> 6) != 2)                                                    \
        return -PP_ERR_BAD_VERSION;                                            \
    int l = len;                                                               \
    srtp_err_status_t st

/* On the packet path the session, pointer and policy are valid by construction, so
 * libsrtp's bad_param can only describe the packet (e.g. shorter than header + tag,
 * or CSRC/extension lengths past the end): report it as parse_err. */
static inline int32_t pp_result(srtp_err_status_t st, int l)
{
    if (st == srtp_err_status_ok)
        return l;
    if (st == srtp_err_status_bad_param)
        return -(int32_t)srtp_err_status_parse_err;
    return -(int32_t)st;
}

EXPORT int32_t pp_protect_rtp(int32_t h, int32_t slot, int32_t len)
{
    PP_PACKET_CHECKS(12, PP_MAX_IN);
    st = srtp_protect(s, pkt, &l);
    return pp_result(st, l);
}

EXPORT int32_t pp_unprotect_rtp(int32_t h, int32_t slot, int32_t len)
{
    PP_PACKET_CHECKS(12, PP_SLOT_SIZE);
    st = srtp_unprotect(s, pkt, &l);
    return pp_result(st, l);
}

EXPORT int32_t pp_protect_rtcp(int32_t h, int32_t slot, int32_t len)
{
    PP_PACKET_CHECKS(8, PP_MAX_IN);
    st = srtp_protect_rtcp(s, pkt, &l);
    return pp_result(st, l);
}

EXPORT int32_t pp_unprotect_rtcp(int32_t h, int32_t slot, int32_t len)
{
    PP_PACKET_CHECKS(8, PP_SLOT_SIZE);
    st = srtp_unprotect_rtcp(s, pkt, &l);
    return pp_result(st, l);
}

/* Diagnostics: ROC and sequence number of the highest packet index seen
 * (inbound) or sent (outbound) for one SSRC, written to pp_state. */
EXPORT int32_t pp_stream_state(int32_t h, uint32_t ssrc)
{
    srtp_t s = pp_lookup(h);
    if (s == NULL)
        return -(int32_t)srtp_err_status_no_ctx;
    srtp_stream_t stream = srtp_get_stream(s, htonl(ssrc));
    if (stream == NULL)
        return -(int32_t)srtp_err_status_no_ctx;
    srtp_xtd_seq_num_t idx = srtp_rdbx_get_packet_index(&stream->rtp_rdbx);
    pp_state[0] = (uint32_t)(idx >> 16);
    pp_state[1] = (uint32_t)(idx & 0xffff);
    return 0;
}

/* Known-answer test hook: pp_key holds key||salt (30 or 46 bytes), slot 0
 * bytes 0..15 hold the 16-byte IV (XORed into the salt offset by libsrtp's
 * AES-ICM), and `len` bytes of slot 1 are encrypted in place. */
EXPORT int32_t pp_aes_cm_kat(int32_t key_len, int32_t len)
{
    srtp_cipher_t *c = NULL;
    srtp_err_status_t st;
    uint32_t n = (uint32_t)len;
    if (len < 0 || len > PP_SLOT_SIZE)
        return -PP_ERR_TOO_LONG;
    st = srtp_crypto_kernel_alloc_cipher(
        key_len == 46 ? SRTP_AES_ICM_256 : SRTP_AES_ICM_128, &c, key_len, 0);
    if (st)
        return -(int32_t)st;
    st = srtp_cipher_init(c, pp_key);
    if (!st)
        st = srtp_cipher_set_iv(c, pp_slots[0], srtp_direction_encrypt);
    if (!st)
        st = srtp_cipher_encrypt(c, pp_slots[1], &n);
    srtp_cipher_dealloc(c);
    memset(pp_key, 0, sizeof(pp_key));
    return st ? -(int32_t)st : (int32_t)n;
}
