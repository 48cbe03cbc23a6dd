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
 *   pp_xfer_buf                   stream records for pp_session_export/pp_stream_import
 *   pp_session_export             every stream's replay state (RTP index + window,
 *                                 SRTCP index + window), for a standby (issue 14)
 *   pp_stream_import              install one such record into a session of the same keys
 *   pp_heap_used                  bytes malloc'd (for bytes-per-stream figures)
 *   pp_aes_cm_kat                 raw AES-CM keystream of libsrtp's own cipher
 *                                 (RFC 3711 B.2 known-answer test only)
 *   pp_kat_session_keys           install given GCM session keys (RFC 7714 16-17
 *                                 known-answer tests only)
 *
 * HMAC-SHA1: pp_init registers pp_hmac_sha1 in place of libsrtp's built-in HMAC
 * through libsrtp's public srtp_replace_auth_type(). It keeps both the inner and the
 * outer pad states precomputed per key (libsrtp's hmac.c rehashes the 64-byte opad
 * block for every packet: one of the five SHA-1 compressions of a 172-byte packet),
 * and hashes with an unrolled SHA-1 written for WebAssembly (below). libsrtp runs its
 * own HMAC test case and ours (RFC 2202 cases 1-2) against it before accepting it.
 *
 * AES-GCM: pp_init registers pp_aes_gcm_128/256 (below) through
 * srtp_replace_cipher_type(), so libsrtp's AEAD packet path (RFC 7714) runs without an
 * external crypto backend. See the section comment and wasm/README.md.
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
#include "stream_list_priv.h"
#include "crypto_kernel.h"
#include "cipher.h"
#include "auth.h"
#include "alloc.h"
#include "aes.h"

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
/* Stream records (PP_XFER_WORDS words each) exchanged by pp_session_export and
 * pp_stream_import; see there for the layout. */
#define PP_XFER_WORDS 16
#define PP_XFER_MAX 8
static uint32_t pp_xfer[PP_XFER_MAX * PP_XFER_WORDS];
/* A header-only RTP packet that makes libsrtp clone a stream (pp_stream_import). */
static uint8_t pp_clone_pkt[12 + SRTP_MAX_TRAILER_LEN] __attribute__((aligned(4)));

/* Handle = generation << 16 | index, so a destroyed handle never reaches a
 * session that later reuses its table entry. Generations use 15 bits: handles
 * stay non-negative int32. */
static srtp_t pp_sessions[PP_MAX_SESSIONS];
static uint16_t pp_generation[PP_MAX_SESSIONS];
static uint8_t pp_profile[PP_MAX_SESSIONS]; /* pp_policy id of each live session */
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

/* ---- AES-GCM (NIST SP 800-38D) for RFC 7714, as a libsrtp cipher type ----
 * libsrtp 2.5.0 implements AEAD_AES_128_GCM / AEAD_AES_256_GCM only in its OpenSSL,
 * NSS and mbedTLS backends; its packet handling for them (srtp_protect_aead,
 * srtp_protect_rtcp_aead: RFC 7714 IV formation, AAD, tag placement, E||index in the
 * SRTCP AAD) is backend-independent and compiled in any build. So the shim supplies
 * only the cipher type, registered through libsrtp's public srtp_replace_cipher_type()
 * like the HMAC above: the block cipher is libsrtp's own AES (crypto/cipher/aes.c),
 * GHASH is written here. libsrtp runs the type's RFC 7714 16.1.1 / 16.2.1 test case
 * and its random encrypt/decrypt round trips before accepting it.
 *
 * GHASH multiplies without tables or secret-dependent branches: 64-bit integer
 * multiplications with "holes" (four interleaved bit classes, so carries never reach a
 * kept bit), the technique of BearSSL's ghash_ctmul64. i64.mul runs in constant time
 * on the x86-64 and arm64 engines V8 targets. Table-driven GHASH would index memory by
 * bits of H. (libsrtp's T-table AES does index by key bits; WebAssembly has no AES
 * instructions, see README.md.)
 *
 * decrypt verifies the tag (constant-time comparison) before it decrypts, so a forged
 * packet leaves the slot as it came. Nothing allocates per packet: the state lives in
 * the cipher, allocated once per session. */

#define PP_GCM_IV_LEN 12
#define PP_GCM_SALT_LEN 12 /* RFC 7714 12: 96-bit master and session salt */
#define PP_GCM_TAG_LEN 16  /* RFC 7714 14.2: AEAD_AES_*_GCM carry a 16-octet tag */

enum { PP_GCM_AAD, PP_GCM_TEXT, PP_GCM_DONE };

typedef struct {
    srtp_aes_expanded_key_t aes;
    uint64_t h1, h0, h1r, h0r, h2, h2r; /* H = E(K, 0^128), high half h1 */
    uint64_t y1, y0;                    /* GHASH accumulator */
    uint8_t j0[16];                     /* pre-counter block IV || 0^31 || 1 */
    uint8_t aad_buf[16];                /* partial AAD block (set_aad is called twice for SRTCP) */
    uint32_t aad_fill;
    uint32_t aad_len;
    uint32_t text_len;
    int phase;
    int aes_key_len; /* 16 or 32 */
} pp_gcm_t;

static inline uint64_t pp_load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline void pp_store_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

/* Low 64 bits of the carry-less product x*y. Each class keeps every fourth bit; a
 * kept bit collects at most 15 partial products below bit 64 (16 only at bit 60,
 * whose carry leaves the word), so the 4-bit gaps absorb all carries. */
static inline uint64_t pp_bmul64(uint64_t x, uint64_t y)
{
    const uint64_t m0 = 0x1111111111111111ull, m1 = 0x2222222222222222ull;
    const uint64_t m2 = 0x4444444444444444ull, m3 = 0x8888888888888888ull;
    uint64_t x0 = x & m0, x1 = x & m1, x2 = x & m2, x3 = x & m3;
    uint64_t y0 = y & m0, y1 = y & m1, y2 = y & m2, y3 = y & m3;
    uint64_t z0 = (x0 * y0) ^ (x1 * y3) ^ (x2 * y2) ^ (x3 * y1);
    uint64_t z1 = (x0 * y1) ^ (x1 * y0) ^ (x2 * y3) ^ (x3 * y2);
    uint64_t z2 = (x0 * y2) ^ (x1 * y1) ^ (x2 * y0) ^ (x3 * y3);
    uint64_t z3 = (x0 * y3) ^ (x1 * y2) ^ (x2 * y1) ^ (x3 * y0);
    return (z0 & m0) | (z1 & m1) | (z2 & m2) | (z3 & m3);
}

static inline uint64_t pp_rev64(uint64_t x)
{
    x = ((x & 0x5555555555555555ull) << 1) | ((x >> 1) & 0x5555555555555555ull);
    x = ((x & 0x3333333333333333ull) << 2) | ((x >> 2) & 0x3333333333333333ull);
    x = ((x & 0x0f0f0f0f0f0f0f0full) << 4) | ((x >> 4) & 0x0f0f0f0f0f0f0f0full);
    x = ((x & 0x00ff00ff00ff00ffull) << 8) | ((x >> 8) & 0x00ff00ff00ff00ffull);
    x = ((x & 0x0000ffff0000ffffull) << 16) | ((x >> 16) & 0x0000ffff0000ffffull);
    return (x << 32) | (x >> 32);
}

/* Y = (Y ^ X) * H in GF(2^128) with GCM's bit order (SP 800-38D 6.3): three 64x64
 * Karatsuba products, their high halves from bit-reversed operands, then reduction
 * by x^128 + x^7 + x^2 + x + 1. */
static void pp_ghash_block(pp_gcm_t *g, uint64_t x1, uint64_t x0)
{
    uint64_t y1 = g->y1 ^ x1, y0 = g->y0 ^ x0;
    uint64_t y0r = pp_rev64(y0), y1r = pp_rev64(y1);
    uint64_t y2 = y0 ^ y1, y2r = y0r ^ y1r;
    uint64_t z0 = pp_bmul64(y0, g->h0);
    uint64_t z1 = pp_bmul64(y1, g->h1);
    uint64_t z2 = pp_bmul64(y2, g->h2);
    uint64_t z0h = pp_bmul64(y0r, g->h0r);
    uint64_t z1h = pp_bmul64(y1r, g->h1r);
    uint64_t z2h = pp_bmul64(y2r, g->h2r);
    uint64_t v0, v1, v2, v3;
    z2 ^= z0 ^ z1;
    z2h ^= z0h ^ z1h;
    z0h = pp_rev64(z0h) >> 1;
    z1h = pp_rev64(z1h) >> 1;
    z2h = pp_rev64(z2h) >> 1;
    v0 = z0;
    v1 = z0h ^ z2;
    v2 = z1 ^ z2h;
    v3 = z1h;
    v3 = (v3 << 1) | (v2 >> 63);
    v2 = (v2 << 1) | (v1 >> 63);
    v1 = (v1 << 1) | (v0 >> 63);
    v0 = v0 << 1;
    v2 ^= v0 ^ (v0 >> 1) ^ (v0 >> 2) ^ (v0 >> 7);
    v1 ^= (v0 << 63) ^ (v0 << 62) ^ (v0 << 57);
    v3 ^= v1 ^ (v1 >> 1) ^ (v1 >> 2) ^ (v1 >> 7);
    v2 ^= (v1 << 63) ^ (v1 << 62) ^ (v1 << 57);
    g->y1 = v3;
    g->y0 = v2;
}

/* GHASH of n octets, the last block zero-padded. */
static void pp_ghash(pp_gcm_t *g, const uint8_t *p, uint32_t n)
{
    uint8_t last[16];
    for (; n >= 16; p += 16, n -= 16)
        pp_ghash_block(g, pp_load_be64(p), pp_load_be64(p + 8));
    if (n > 0) {
        memset(last, 0, sizeof(last));
        memcpy(last, p, n);
        pp_ghash_block(g, pp_load_be64(last), pp_load_be64(last + 8));
    }
}

/* The AAD ends where the text begins: hash its zero-padded last block once. */
static void pp_gcm_close_aad(pp_gcm_t *g)
{
    if (g->phase != PP_GCM_AAD)
        return;
    if (g->aad_fill > 0)
        pp_ghash(g, g->aad_buf, g->aad_fill);
    g->aad_fill = 0;
    g->phase = PP_GCM_TEXT;
}

/* CTR from inc32(J0) over n octets in place (SP 800-38D 6.5, 7.1 step 5). */
static void pp_gcm_ctr(pp_gcm_t *g, uint8_t *p, uint32_t n)
{
    v128_t blk;
    uint32_t ctr = 2, i;
    while (n > 0) {
        uint32_t k = n < 16 ? n : 16;
        memcpy(blk.v8, g->j0, 12);
        blk.v8[12] = (uint8_t)(ctr >> 24);
        blk.v8[13] = (uint8_t)(ctr >> 16);
        blk.v8[14] = (uint8_t)(ctr >> 8);
        blk.v8[15] = (uint8_t)ctr;
        srtp_aes_encrypt(&blk, &g->aes);
        for (i = 0; i < k; i++)
            p[i] ^= blk.v8[i];
        p += k;
        n -= k;
        ctr++;
    }
}

/* T = E(K, J0) ^ GHASH(A || pad || C || pad || [len(A)]64 || [len(C)]64), 16 octets. */
static void pp_gcm_tag(pp_gcm_t *g, uint8_t tag[16])
{
    v128_t ek;
    pp_gcm_close_aad(g);
    pp_ghash_block(g, (uint64_t)g->aad_len * 8, (uint64_t)g->text_len * 8);
    memcpy(ek.v8, g->j0, 16);
    srtp_aes_encrypt(&ek, &g->aes);
    pp_store_be64(tag, g->y1);
    pp_store_be64(tag + 8, g->y0);
    for (int i = 0; i < 16; i++)
        tag[i] ^= ek.v8[i];
    g->phase = PP_GCM_DONE;
}

extern const srtp_cipher_type_t pp_aes_gcm_128;
extern const srtp_cipher_type_t pp_aes_gcm_256;

/* key_len counts the 12-octet salt too (libsrtp's SRTP_AES_GCM_*_KEY_LEN_WSALT);
 * libsrtp keeps the salt itself and forms the IV (RFC 7714 8.1, 9.1). */
static srtp_err_status_t pp_gcm_alloc(srtp_cipher_t **c, int key_len, int tag_len,
                                      const srtp_cipher_type_t *type, int aes_key_len,
                                      int algorithm)
{
    uint8_t *p;
    pp_gcm_t *g;
    if (key_len != aes_key_len + PP_GCM_SALT_LEN || tag_len != PP_GCM_TAG_LEN)
        return srtp_err_status_bad_param;
    p = (uint8_t *)srtp_crypto_alloc(32 + sizeof(pp_gcm_t));
    if (p == NULL)
        return srtp_err_status_alloc_fail;
    _Static_assert(sizeof(srtp_cipher_t) <= 32, "srtp_cipher_t outgrew its 32 octets");
    g = (pp_gcm_t *)(p + 32); /* srtp_cipher_t fits in 32 octets; keeps g 16-aligned */
    g->aes_key_len = aes_key_len;
    g->phase = PP_GCM_DONE;
    *c = (srtp_cipher_t *)p;
    (*c)->type = type;
    (*c)->state = g;
    (*c)->key_len = key_len;
    (*c)->algorithm = algorithm;
    return srtp_err_status_ok;
}

static srtp_err_status_t pp_gcm_alloc_128(srtp_cipher_t **c, int key_len, int tag_len)
{
    return pp_gcm_alloc(c, key_len, tag_len, &pp_aes_gcm_128, 16, SRTP_AES_GCM_128);
}

static srtp_err_status_t pp_gcm_alloc_256(srtp_cipher_t **c, int key_len, int tag_len)
{
    return pp_gcm_alloc(c, key_len, tag_len, &pp_aes_gcm_256, 32, SRTP_AES_GCM_256);
}

static srtp_err_status_t pp_gcm_dealloc(srtp_cipher_t *c)
{
    memset(c, 0, 32 + sizeof(pp_gcm_t));
    srtp_crypto_free(c);
    return srtp_err_status_ok;
}

static srtp_err_status_t pp_gcm_init(void *cv, const uint8_t *key)
{
    pp_gcm_t *g = (pp_gcm_t *)cv;
    v128_t h;
    srtp_err_status_t st = srtp_aes_expand_encryption_key(key, g->aes_key_len, &g->aes);
    if (st)
        return st;
    memset(h.v8, 0, 16);
    srtp_aes_encrypt(&h, &g->aes);
    g->h1 = pp_load_be64(h.v8);
    g->h0 = pp_load_be64(h.v8 + 8);
    g->h1r = pp_rev64(g->h1);
    g->h0r = pp_rev64(g->h0);
    g->h2 = g->h0 ^ g->h1;
    g->h2r = g->h0r ^ g->h1r;
    memset(h.v8, 0, 16);
    g->phase = PP_GCM_DONE;
    return srtp_err_status_ok;
}

static srtp_err_status_t pp_gcm_set_iv(void *cv, uint8_t *iv, srtp_cipher_direction_t dir)
{
    pp_gcm_t *g = (pp_gcm_t *)cv;
    (void)dir;
    memcpy(g->j0, iv, PP_GCM_IV_LEN); /* 96-bit IV: J0 = IV || 0^31 || 1 */
    g->j0[12] = 0;
    g->j0[13] = 0;
    g->j0[14] = 0;
    g->j0[15] = 1;
    g->y1 = 0;
    g->y0 = 0;
    g->aad_fill = 0;
    g->aad_len = 0;
    g->text_len = 0;
    g->phase = PP_GCM_AAD;
    return srtp_err_status_ok;
}

/* May be called more than once before the text: SRTCP passes the header, then E||index
 * (RFC 7714 9.2); the AAD is their concatenation, padded only at its end. */
static srtp_err_status_t pp_gcm_set_aad(void *cv, const uint8_t *aad, uint32_t n)
{
    pp_gcm_t *g = (pp_gcm_t *)cv;
    if (g->phase != PP_GCM_AAD)
        return srtp_err_status_bad_param;
    g->aad_len += n;
    if (g->aad_fill > 0) {
        uint32_t k = 16 - g->aad_fill;
        if (k > n)
            k = n;
        memcpy(g->aad_buf + g->aad_fill, aad, k);
        g->aad_fill += k;
        aad += k;
        n -= k;
        if (g->aad_fill < 16)
            return srtp_err_status_ok;
        pp_ghash(g, g->aad_buf, 16);
        g->aad_fill = 0;
    }
    pp_ghash(g, aad, n & ~15u);
    if (n & 15) {
        memcpy(g->aad_buf, aad + (n & ~15u), n & 15);
        g->aad_fill = n & 15;
    }
    return srtp_err_status_ok;
}

static srtp_err_status_t pp_gcm_encrypt(void *cv, uint8_t *buf, unsigned int *len)
{
    pp_gcm_t *g = (pp_gcm_t *)cv;
    if (g->phase == PP_GCM_DONE || g->text_len != 0)
        return srtp_err_status_bad_param; /* one text per IV */
    pp_gcm_close_aad(g);
    pp_gcm_ctr(g, buf, *len);
    pp_ghash(g, buf, *len);
    g->text_len = *len;
    return srtp_err_status_ok;
}

static srtp_err_status_t pp_gcm_get_tag(void *cv, uint8_t *out, uint32_t *len)
{
    pp_gcm_t *g = (pp_gcm_t *)cv;
    if (g->phase == PP_GCM_DONE)
        return srtp_err_status_bad_param;
    pp_gcm_tag(g, out);
    *len = PP_GCM_TAG_LEN;
    return srtp_err_status_ok;
}

/* buf holds ciphertext || tag (libsrtp passes the tag down, srtp.c srtp_unprotect_aead). */
static srtp_err_status_t pp_gcm_decrypt(void *cv, uint8_t *buf, unsigned int *len)
{
    pp_gcm_t *g = (pp_gcm_t *)cv;
    uint8_t tag[16];
    uint32_t n, diff = 0, i;
    if (g->phase == PP_GCM_DONE || g->text_len != 0)
        return srtp_err_status_bad_param;
    if (*len < PP_GCM_TAG_LEN)
        return srtp_err_status_auth_fail;
    n = *len - PP_GCM_TAG_LEN;
    pp_gcm_close_aad(g);
    pp_ghash(g, buf, n);
    g->text_len = n;
    pp_gcm_tag(g, tag);
    for (i = 0; i < PP_GCM_TAG_LEN; i++) /* constant time: no early exit */
        diff |= (uint32_t)(tag[i] ^ buf[n + i]);
    memset(tag, 0, sizeof(tag));
    if (diff != 0)
        return srtp_err_status_auth_fail;
    pp_gcm_ctr(g, buf, n);
    *len = n;
    return srtp_err_status_ok;
}

/* RFC 7714 16.1.1 (AEAD_AES_128_GCM) and 16.2.1 (AEAD_AES_256_GCM): the SRTP packet's
 * payload under the given session key, IV (salt already applied), RTP header as AAD.
 * The key arrays carry the 12-octet salt after the key, as libsrtp's cipher keys do. */
static const uint8_t pp_rfc7714_key128[28] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
    0x0e, 0x0f, 0x51, 0x75, 0x69, 0x64, 0x20, 0x70, 0x72, 0x6f, 0x20, 0x71, 0x75, 0x6f
};
static const uint8_t pp_rfc7714_key256[44] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
    0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
    0x1e, 0x1f, 0x51, 0x75, 0x69, 0x64, 0x20, 0x70, 0x72, 0x6f, 0x20, 0x71, 0x75, 0x6f
};
static uint8_t pp_rfc7714_iv[12] = { 0x51, 0x75, 0x3c, 0x65, 0x80, 0xc2,
                                     0x72, 0x6f, 0x20, 0x71, 0x84, 0x14 };
static const uint8_t pp_rfc7714_aad[12] = { 0x80, 0x40, 0xf1, 0x7b, 0x80, 0x41,
                                            0xf8, 0xd3, 0x55, 0x01, 0xa0, 0xb2 };
/* "Gallia est omnis divisa in partes tres" */
static const uint8_t pp_rfc7714_plain[38] = {
    0x47, 0x61, 0x6c, 0x6c, 0x69, 0x61, 0x20, 0x65, 0x73, 0x74, 0x20, 0x6f, 0x6d,
    0x6e, 0x69, 0x73, 0x20, 0x64, 0x69, 0x76, 0x69, 0x73, 0x61, 0x20, 0x69, 0x6e,
    0x20, 0x70, 0x61, 0x72, 0x74, 0x65, 0x73, 0x20, 0x74, 0x72, 0x65, 0x73
};
static const uint8_t pp_rfc7714_cipher128[54] = {
    0xf2, 0x4d, 0xe3, 0xa3, 0xfb, 0x34, 0xde, 0x6c, 0xac, 0xba, 0x86, 0x1c, 0x9d, 0x7e,
    0x4b, 0xca, 0xbe, 0x63, 0x3b, 0xd5, 0x0d, 0x29, 0x4e, 0x6f, 0x42, 0xa5, 0xf4, 0x7a,
    0x51, 0xc7, 0xd1, 0x9b, 0x36, 0xde, 0x3a, 0xdf, 0x88, 0x33, 0x89, 0x9d, 0x7f, 0x27,
    0xbe, 0xb1, 0x6a, 0x91, 0x52, 0xcf, 0x76, 0x5e, 0xe4, 0x39, 0x0c, 0xce
};
static const uint8_t pp_rfc7714_cipher256[54] = {
    0x32, 0xb1, 0xde, 0x78, 0xa8, 0x22, 0xfe, 0x12, 0xef, 0x9f, 0x78, 0xfa, 0x33, 0x2e,
    0x33, 0xaa, 0xb1, 0x80, 0x12, 0x38, 0x9a, 0x58, 0xe2, 0xf3, 0xb5, 0x0b, 0x2a, 0x02,
    0x76, 0xff, 0xae, 0x0f, 0x1b, 0xa6, 0x37, 0x99, 0xb8, 0x7b, 0x7a, 0xa3, 0xdb, 0x36,
    0xdf, 0xff, 0xd6, 0xb0, 0xf9, 0xbb, 0x78, 0x78, 0xd7, 0xa7, 0x6c, 0x13
};
static const srtp_cipher_test_case_t pp_gcm128_test = {
    28, pp_rfc7714_key128, pp_rfc7714_iv, 38, pp_rfc7714_plain, 54, pp_rfc7714_cipher128,
    12, pp_rfc7714_aad, 16, NULL
};
static const srtp_cipher_test_case_t pp_gcm256_test = {
    44, pp_rfc7714_key256, pp_rfc7714_iv, 38, pp_rfc7714_plain, 54, pp_rfc7714_cipher256,
    12, pp_rfc7714_aad, 16, NULL
};

const srtp_cipher_type_t pp_aes_gcm_128 = {
    pp_gcm_alloc_128, pp_gcm_dealloc, pp_gcm_init,   pp_gcm_set_aad,
    pp_gcm_encrypt,   pp_gcm_decrypt, pp_gcm_set_iv, pp_gcm_get_tag,
    "AES-128-GCM (libsrtp AES, constant-time GHASH)", &pp_gcm128_test, SRTP_AES_GCM_128
};
const srtp_cipher_type_t pp_aes_gcm_256 = {
    pp_gcm_alloc_256, pp_gcm_dealloc, pp_gcm_init,   pp_gcm_set_aad,
    pp_gcm_encrypt,   pp_gcm_decrypt, pp_gcm_set_iv, pp_gcm_get_tag,
    "AES-256-GCM (libsrtp AES, constant-time GHASH)", &pp_gcm256_test, SRTP_AES_GCM_256
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
    /* not in the kernel without a crypto backend: replacing an absent id adds it */
    st = srtp_replace_cipher_type(&pp_aes_gcm_128, SRTP_AES_GCM_128);
    if (st != srtp_err_status_ok)
        return -(int32_t)st;
    st = srtp_replace_cipher_type(&pp_aes_gcm_256, SRTP_AES_GCM_256);
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
    case 4: /* AEAD_AES_128_GCM (RFC 7714 14.2): 16-octet key, 12-octet salt, 16-octet tag */
        if (key_len != SRTP_AES_GCM_128_KEY_LEN_WSALT)
            return 0;
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
        break;
    case 5: /* AEAD_AES_256_GCM (RFC 7714 14.2): 32-octet key, 12-octet salt, 16-octet tag */
        if (key_len != SRTP_AES_GCM_256_KEY_LEN_WSALT)
            return 0;
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
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
    pp_profile[idx] = (uint8_t)profile;
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
 * or CSRC/extension lengths past the end): report it as parse_err. So can cipher_fail:
 * srtp_unprotect_aead returns it for a payload shorter than the GCM tag (IV and AAD
 * setup cannot fail). */
static inline int32_t pp_result(srtp_err_status_t st, int l)
{
    if (st == srtp_err_status_ok)
        return l;
    if (st == srtp_err_status_bad_param || st == srtp_err_status_cipher_fail)
        return -(int32_t)srtp_err_status_parse_err;
    return -(int32_t)st;
}

static inline int pp_is_aead(int32_t h)
{
    uint8_t p = pp_profile[(uint32_t)h & 0xffff];
    return p == 4 || p == 5;
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
    /* Every profile here encrypts SRTCP (no UNENCRYPTED_SRTCP, RFC 4568 6.3.2). For
     * AES-CM libsrtp rejects a cleared E flag with cant_check; its AEAD path would
     * instead authenticate the whole packet as AAD (RFC 7714 9.3) and accept it, so
     * hold GCM sessions to the same rule. len >= 8 here: the flag is in the packet. */
    if (pp_is_aead(h) && !(pkt[len - 4] & 0x80))
        return -(int32_t)srtp_err_status_cant_check;
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

/* Known-answer hook for RFC 7714 16-17, whose vectors give session keys and a session
 * salt rather than a master key: replace what libsrtp derived for a GCM session. pp_key
 * holds session key||salt (28 or 44 octets). The template stream's ciphers are shared
 * with every stream cloned from it, its salts are copied at cloning, so the keys and
 * salts go to the template and to the stream of `ssrc` if it exists; a non-zero
 * `rtcp_index` makes that stream's next SRTCP index rtcp_index. Tests only; it never
 * runs on the packet path. */
EXPORT int32_t pp_kat_session_keys(int32_t h, uint32_t ssrc, uint32_t rtcp_index)
{
    srtp_t s = pp_lookup(h);
    srtp_err_status_t st;
    int key_len;
    if (s == NULL || s->stream_template == NULL) {
        memset(pp_key, 0, sizeof(pp_key));
        return -(int32_t)srtp_err_status_no_ctx;
    }
    if (!pp_is_aead(h) || rtcp_index > 0x7fffffff) {
        memset(pp_key, 0, sizeof(pp_key));
        return -(int32_t)srtp_err_status_bad_param;
    }
    key_len = pp_profile[(uint32_t)h & 0xffff] == 4 ? SRTP_AES_GCM_128_KEY_LEN_WSALT
                                                    : SRTP_AES_GCM_256_KEY_LEN_WSALT;
    srtp_session_keys_t *k = &s->stream_template->session_keys[0];
    st = srtp_cipher_init(k->rtp_cipher, pp_key);
    if (!st)
        st = srtp_cipher_init(k->rtcp_cipher, pp_key);
    if (!st) {
        memcpy(k->salt, pp_key + key_len - PP_GCM_SALT_LEN, PP_GCM_SALT_LEN);
        memcpy(k->c_salt, pp_key + key_len - PP_GCM_SALT_LEN, PP_GCM_SALT_LEN);
        srtp_stream_t str = srtp_get_stream(s, htonl(ssrc));
        if (str != NULL) {
            memcpy(str->session_keys[0].salt, k->salt, PP_GCM_SALT_LEN);
            memcpy(str->session_keys[0].c_salt, k->c_salt, PP_GCM_SALT_LEN);
            if (rtcp_index > 0)
                str->rtcp_rdb.window_start = rtcp_index - 1; /* srtp_rdb_increment: +1 */
        }
    }
    memset(pp_key, 0, sizeof(pp_key));
    return -(int32_t)st;
}

/* Stream state for a standby (issue 14). One record is PP_XFER_WORDS little-endian
 * words in pp_xfer:
 *   0 ssrc   1 direction (1 sender, 2 receiver)   2 ROC   3 highest sequence number
 *   4..7     RTP replay window, 128 bits (libsrtp's rdbx bitvector, word 0 first)
 *   8        SRTCP window_start (the sender's last index, or the receiver's window base)
 *   9..12    SRTCP replay window, 128 bits (libsrtp's rdb v128, word 0 first)
 *   13..15   zero
 * The shim only moves libsrtp's own fields; the versioned wire layout is the binding's
 * (wasm/stream-state.ts). */
#define PP_WINDOW_BITS 128

struct pp_export_data {
    uint32_t n;
    uint32_t total;
};

static int pp_export_cb(srtp_stream_t st, void *raw)
{
    struct pp_export_data *d = (struct pp_export_data *)raw;
    d->total++;
    if (d->n >= PP_XFER_MAX)
        return 0;
    uint32_t *w = &pp_xfer[d->n * PP_XFER_WORDS];
    srtp_xtd_seq_num_t idx = srtp_rdbx_get_packet_index(&st->rtp_rdbx);
    memset(w, 0, PP_XFER_WORDS * 4);
    w[0] = ntohl(st->ssrc);
    w[1] = (uint32_t)st->direction;
    w[2] = (uint32_t)(idx >> 16);
    w[3] = (uint32_t)(idx & 0xffff);
    if (bitvector_get_length(&st->rtp_rdbx.bitmask) == PP_WINDOW_BITS)
        memcpy(&w[4], st->rtp_rdbx.bitmask.word, 16);
    w[8] = st->rtcp_rdb.window_start;
    memcpy(&w[9], st->rtcp_rdb.bitmask.v32, 16);
    d->n++;
    return 0;
}

/* Writes up to PP_XFER_MAX stream records of session h into pp_xfer and returns how
 * many streams the session has (may exceed what was written), or -code. Control plane
 * only: never called per packet. */
EXPORT int32_t pp_session_export(int32_t h)
{
    srtp_t s = pp_lookup(h);
    struct pp_export_data d = { 0, 0 };
    if (s == NULL)
        return -(int32_t)srtp_err_status_no_ctx;
    srtp_stream_list_for_each(s->stream_list, pp_export_cb, &d);
    return (int32_t)d.total;
}

/* Installs the record pp_xfer[0..] into session h, which must have been created from
 * the same profile and master key as the exporting one: the stream of that SSRC is made
 * if absent, then its RTP index and window and its SRTCP index and window become the
 * record's. libsrtp has no public constructor for one stream of an ssrc_any session, so
 * the stream is cloned from the template the way libsrtp clones it for a new SSRC: by
 * protecting a header-only packet with that SSRC (the output is wiped, never sent). */
EXPORT int32_t pp_stream_import(int32_t h)
{
    srtp_t s = pp_lookup(h);
    const uint32_t *w = pp_xfer;
    if (s == NULL || s->stream_template == NULL)
        return -(int32_t)srtp_err_status_no_ctx;
    if (w[3] > 0xffff || w[8] > 0x7fffffff ||
        (w[1] != dir_srtp_sender && w[1] != dir_srtp_receiver))
        return -(int32_t)srtp_err_status_bad_param;
    srtp_stream_t st = srtp_get_stream(s, htonl(w[0]));
    if (st == NULL) {
        int l = 12;
        memset(pp_clone_pkt, 0, sizeof(pp_clone_pkt));
        pp_clone_pkt[0] = 0x80;
        pp_clone_pkt[3] = 1;
        pp_clone_pkt[8] = (uint8_t)(w[0] >> 24);
        pp_clone_pkt[9] = (uint8_t)(w[0] >> 16);
        pp_clone_pkt[10] = (uint8_t)(w[0] >> 8);
        pp_clone_pkt[11] = (uint8_t)w[0];
        srtp_err_status_t e = srtp_protect(s, pp_clone_pkt, &l);
        memset(pp_clone_pkt, 0, sizeof(pp_clone_pkt));
        if (e != srtp_err_status_ok)
            return -(int32_t)e;
        st = srtp_get_stream(s, htonl(w[0]));
        if (st == NULL)
            return -(int32_t)srtp_err_status_no_ctx;
    }
    if (bitvector_get_length(&st->rtp_rdbx.bitmask) != PP_WINDOW_BITS)
        return -(int32_t)srtp_err_status_bad_param;
    st->direction = (direction_t)w[1];
    st->pending_roc = 0;
    st->rtp_rdbx.index = ((srtp_xtd_seq_num_t)w[2] << 16) | w[3];
    memcpy(st->rtp_rdbx.bitmask.word, &w[4], 16);
    st->rtcp_rdb.window_start = w[8];
    memcpy(st->rtcp_rdb.bitmask.v32, &w[9], 16);
    return 0;
}

EXPORT uint32_t *pp_xfer_buf(void) { return pp_xfer; }
