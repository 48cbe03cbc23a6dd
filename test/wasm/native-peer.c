/*
 * native-peer.c: the far end for test/wasm/native-interop.test.ts. It is the system's
 * libsrtp2 (Debian's libsrtp2-1, built with its NSS crypto backend, which implements
 * AES-GCM natively), so it shares no crypto code with wasm/srtp.wasm. Not shipped.
 *
 *   gcc -O2 -o native-peer test/wasm/native-peer.c -lsrtp2
 *   native-peer PROFILE inbound|outbound KEYSALT_HEX < lines
 *
 * One ssrc_any session in one direction, like the engine's. Each stdin line is
 * "rtp HEX" or "rtcp HEX": an outbound peer protects it, an inbound peer unprotects
 * it. Each line gets one answer line: the resulting packet in hex, or "ERR <status>"
 * (libsrtp's srtp_err_status_t). Session state (ROC, replay window, SRTCP index)
 * carries across the lines of one run.
 */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PKT 4096

static int set_profile(srtp_policy_t *p, const char *name, size_t *key_len)
{
    if (!strcmp(name, "AES_CM_128_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        *key_len = 30;
    } else if (!strcmp(name, "AES_CM_128_HMAC_SHA1_32")) {
        /* RFC 4568 6.2.2: SRTCP keeps the 80-bit tag */
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        *key_len = 30;
    } else if (!strcmp(name, "AES_256_CM_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
        *key_len = 46;
    } else if (!strcmp(name, "NULL_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_null_cipher_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_null_cipher_hmac_sha1_80(&p->rtcp);
        *key_len = 30;
    } else if (!strcmp(name, "AEAD_AES_128_GCM")) {
        /* RFC 7714 14.2: 16-octet tag on SRTP and SRTCP, SRTCP encrypted */
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
        *key_len = 28;
    } else if (!strcmp(name, "AEAD_AES_256_GCM")) {
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
        *key_len = 44;
    } else {
        return 0;
    }
    return 1;
}

static int unhex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    while (s[0] && s[1] && s[0] != '\n') {
        unsigned v;
        if (n >= max || sscanf(s, "%2x", &v) != 1)
            return -1;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return (int)n;
}

int main(int argc, char **argv)
{
    static uint8_t key[64], pkt[MAX_PKT + SRTP_MAX_TRAILER_LEN + 4];
    static char line[2 * MAX_PKT + 16];
    srtp_policy_t p;
    srtp_t s;
    size_t key_len = 0;
    int outbound;

    if (argc != 4)
        return 64;
    if (srtp_init())
        return 65;
    memset(&p, 0, sizeof(p));
    if (!set_profile(&p, argv[1], &key_len))
        return 66;
    outbound = !strcmp(argv[2], "outbound");
    if (unhex(argv[3], key, sizeof(key)) != (int)key_len)
        return 67;
    p.key = key;
    p.window_size = 128;
    p.allow_repeat_tx = 0;
    p.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    srtp_err_status_t st = srtp_create(&s, &p);
    if (st) {
        fprintf(stderr, "srtp_create: %d\n", (int)st);
        return 68;
    }
    while (fgets(line, sizeof(line), stdin)) {
        int rtcp = !strncmp(line, "rtcp ", 5);
        int len = unhex(line + (rtcp ? 5 : 4), pkt, MAX_PKT);
        if (len < 0) {
            printf("ERR hex\n");
            continue;
        }
        if (outbound)
            st = rtcp ? srtp_protect_rtcp(s, pkt, &len) : srtp_protect(s, pkt, &len);
        else
            st = rtcp ? srtp_unprotect_rtcp(s, pkt, &len) : srtp_unprotect(s, pkt, &len);
        if (st) {
            printf("ERR %d\n", (int)st);
        } else {
            for (int i = 0; i < len; i++)
                printf("%02x", pkt[i]);
            printf("\n");
        }
        fflush(stdout);
    }
    srtp_dealloc(s);
    srtp_shutdown();
    return 0;
}
