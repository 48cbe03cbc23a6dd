/*
 * native-bench.c: the native baseline for bench/srtp.ts. Same work as the wasm
 * benchmark (protect + unprotect of a 172-byte RTP packet, AES_CM_128_HMAC_SHA1_80,
 * ssrc_any sessions) against the system libsrtp2 (Debian's libsrtp2-1, built with
 * the NSS crypto backend, so AES-NI). Not part of the appliance.
 *
 *   gcc -O2 -o wasm/build/native-bench wasm/native-bench.c -lsrtp2
 *   wasm/build/native-bench SECONDS   -> prints "<pairs> <cpu_seconds>"
 */
#ifdef PP_LOCAL_SRTP_H
#include "srtp.h"
#else
#include <srtp2/srtp.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    uint8_t key[30];
    uint8_t pkt[172 + SRTP_MAX_TRAILER_LEN] __attribute__((aligned(16)));
    uint8_t tmpl[172];
    srtp_policy_t p;
    srtp_t tx, rx;
    int i;

    for (i = 0; i < 30; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    memset(tmpl, 0, sizeof(tmpl));
    tmpl[0] = 0x80;
    tmpl[8] = 0x12;
    tmpl[9] = 0x34;
    tmpl[10] = 0xab;
    tmpl[11] = 0xcd;
    for (i = 12; i < 172; i++)
        tmpl[i] = (uint8_t)(i * 7);

    if (srtp_init())
        return 1;
    memset(&p, 0, sizeof(p));
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    p.key = key;
    p.window_size = 128;
    p.ssrc.type = ssrc_any_outbound;
    if (srtp_create(&tx, &p))
        return 1;
    p.ssrc.type = ssrc_any_inbound;
    if (srtp_create(&rx, &p))
        return 1;

    unsigned long pairs = 0, failures = 0;
    unsigned seq = 0;
    clock_t c0 = clock(), limit = c0 + (clock_t)(seconds * CLOCKS_PER_SEC);
    while (clock() < limit) {
        for (i = 0; i < 10000; i++) {
            int len = 172;
            memcpy(pkt, tmpl, 172);
            pkt[2] = (uint8_t)(seq >> 8);
            pkt[3] = (uint8_t)seq;
            seq = (seq + 1) & 0xffff;
            if (srtp_protect(tx, pkt, &len) || srtp_unprotect(rx, pkt, &len) || len != 172)
                failures++;
            pairs++;
        }
    }
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("%lu %.6f %lu\n", pairs, cpu, failures);
    return failures ? 2 : 0;
}
