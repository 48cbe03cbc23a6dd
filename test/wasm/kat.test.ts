/**
 * Known-answer tests: RFC 3711 Appendix B.2 (AES-CM keystream) and B.3 (key derivation),
 * RFC 7714 sections 16-17 (AEAD_AES_128_GCM / AEAD_AES_256_GCM SRTP and SRTCP packets),
 * and libsrtp's own published test packets (test/srtp_driver.c: srtp_validate,
 * srtp_validate_null, srtp_validate_aes_256, srtp_validate_gcm), run against the
 * WebAssembly module and against the node:crypto reference. Also checks the committed
 * module against its manifest.
 *
 * CI runs this file against a freshly rebuilt module with SRTP_WASM_PATH=... when needed.
 */
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  findWasmFile,
  readManifest,
  SRTP_ERR_AUTH,
  SRTP_ERR_BAD_PARAM,
  SrtpEngine,
  srtpErrorName as srtpName,
} from '../../wasm/srtp';
import {
  aesCmKeystream,
  deriveSessionKey,
  gcmRtcpIv,
  gcmRtpIv,
  LABEL,
  SrtpReferenceContext,
} from '../../wasm/srtp-reference';
import { inSlot } from './helpers';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 3711 B.2
const B2_KEY = hex('2B7E151628AED2A6ABF7158809CF4F3C');
const B2_SALT = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD');
const B2_HEAD = hex(
  'E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB 41E95B3BB0A2E8DD477901E4FCA894C0',
);
const B2_TAIL = hex(
  'EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE 6A2CC3787889374FBEB4C81B17BA6C44',
);

// RFC 3711 B.3
const B3_MASTER_KEY = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const B3_MASTER_SALT = hex('0EC675AD498AFEEBB6960B3AABE6');
const B3_CIPHER_KEY = hex('C61E7A93744F39EE10734AFE3FF7A087');
const B3_CIPHER_SALT = hex('30CBBC08863D8C85D49DB34A9AE1');
const B3_AUTH_KEY = hex('CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');

// libsrtp 2.5.0 test/srtp_driver.c: test_key and the reference packets.
const LIBSRTP_TEST_KEY = hex('e1f97a0d3e018be0d64fa32c06de4139 0ec675ad498afeebb6960b3aabe6');
const LIBSRTP_RTP_PLAIN = hex('800f1234decafbadcafebabe abababababababababababababababab');
const LIBSRTP_RTP_CIPHER = hex('800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb');
const LIBSRTP_RTCP_PLAIN = hex('81c8000bcafebabe abababababababababababababababab');
const LIBSRTP_RTCP_CIPHER = hex('81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798');
const LIBSRTP_NULL_RTP_CIPHER = hex('800f1234decafbadcafebabe abababababababababababababababab aba136270b679134ce9b');
const LIBSRTP_NULL_RTCP_CIPHER = hex('81c8000bcafebabe abababababababababababababababab 00000001 fe88c7fdfd37ebce615d');
const LIBSRTP_AES256_KEY = hex(
  'f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6 3b04803de51ee7c96423ab5b78d2',
);
const LIBSRTP_AES256_RTP_CIPHER = hex('800f1234decafbadcafebabe f1d9de17ff251ff1aa007774b0b4b40d a08d9d9a5b3a55d8873b');

// RFC 7714 16 (SRTP) and 17 (SRTCP): session key and salt given directly (no KDF), ROC 0,
// SSRC 0x5501a0b2 seq 0xf17b for SRTP; SSRC "Mars" and SRTCP index 0x5d4 for SRTCP.
const R7714_KEY_128 = hex('000102030405060708090a0b0c0d0e0f');
const R7714_KEY_256 = hex('000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f');
const R7714_SALT = hex('517569642070726f2071756f'); // "Quid pro quo"
const R7714_RTP_IV = hex('51753c6580c2726f20718414'); // 8.1 IV of the SRTP packet
const R7714_RTCP_IV = hex('517524055203726f207170bb'); // 9.1 IV of the SRTCP packet
const R7714_RTP = hex(
  '8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573',
);
const R7714_RTCP = hex(
  '81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef',
);
const R7714_CASES = [
  {
    profile: 'AEAD_AES_128_GCM' as const,
    section: '16.1.1 / 17.1.1',
    key: R7714_KEY_128,
    srtp: hex(`8040f17b 8041f8d3 5501a0b2
      f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833
      899d7f27 beb16a91 52cf765e e4390cce`),
    srtcp: hex(`81c8000d 4d617273
      63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b
      c84aa458 96cf4d2f c5abf872 45d9eade
      800005d4`),
  },
  {
    profile: 'AEAD_AES_256_GCM' as const,
    section: '16.2.1 / 17.2.1',
    key: R7714_KEY_256,
    srtp: hex(`8040f17b 8041f8d3 5501a0b2
      32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b
      7aa3db36 dfffd6b0 f9bb7878 d7a76c13`),
    srtcp: hex(`81c8000d 4d617273
      d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad
      1d1eb30c 4446839f 57ff6f6c b26ac3be
      800005d4`),
  },
];
const MARS = 0x4d617273;

// libsrtp 2.5.0 test/srtp_driver.c srtp_validate_gcm: master key (through the KDF),
// AEAD_AES_128_GCM with a 16-octet tag, SSRC 0xcafebabe, first packets (SRTCP index 1).
const LIBSRTP_GCM_KEY = hex('000102030405060708090a0b0c0d0e0f a0a1a2a3a4a5a6a7a8a9aaab');
const LIBSRTP_GCM_RTP_CIPHER = hex(
  '800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392',
);
const LIBSRTP_GCM_RTCP_CIPHER = hex(
  '81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025 c52c6fbea2b3b446ea31123ba88ce61e 80000001',
);

describe.each(R7714_CASES)('RFC 7714 $section $profile', (c) => {
  const sessionKeySalt = Buffer.concat([c.key, R7714_SALT]);
  const session = { encKey: c.key, authKey: Buffer.alloc(0), salt: R7714_SALT };

  test('the vectors are AES-GCM of the RFC IVs (checks the transcription and the IV formation)', () => {
    expect(gcmRtpIv(R7714_SALT, 0x5501a0b2, 0, 0xf17b)).toEqual(R7714_RTP_IV);
    expect(gcmRtcpIv(R7714_SALT, MARS, 0x5d4)).toEqual(R7714_RTCP_IV);
    const algo = c.key.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm';
    const e = createCipheriv(algo, c.key, R7714_RTP_IV);
    e.setAAD(R7714_RTP.subarray(0, 12));
    const sealed = Buffer.concat([e.update(R7714_RTP.subarray(12)), e.final(), e.getAuthTag()]);
    expect(Buffer.concat([R7714_RTP.subarray(0, 12), sealed])).toEqual(c.srtp);
    const r = createCipheriv(algo, c.key, R7714_RTCP_IV);
    r.setAAD(Buffer.concat([R7714_RTCP.subarray(0, 8), hex('800005d4')])); // 17: AAD = header || E||index
    const sealedRtcp = Buffer.concat([r.update(R7714_RTCP.subarray(8)), r.final(), r.getAuthTag()]);
    expect(Buffer.concat([R7714_RTCP.subarray(0, 8), sealedRtcp, hex('800005d4')])).toEqual(c.srtcp);
  });

  test('the module protects and unprotects the SRTP and SRTCP packets (libsrtp AEAD path, shim AES-GCM)', () => {
    const e = SrtpEngine.load();
    const dummy = Buffer.alloc(c.key.length + 12, 0x33);
    const out = e.createSession(c.profile, dummy, 'outbound');
    expect(e.katSessionKeys(out, 0x5501a0b2, sessionKeySalt)).toBe(0);
    expect(inSlot(e, 3, R7714_RTP, (s, n) => e.protectRtp(out, s, n))).toEqual(c.srtp);
    // SRTCP: the first packet creates the stream (index 1), then the index moves to 0x5d4
    expect(typeof inSlot(e, 3, R7714_RTCP, (s, n) => e.protectRtcp(out, s, n))).toBe('object');
    expect(e.katSessionKeys(out, MARS, sessionKeySalt, 0x5d4)).toBe(0);
    expect(inSlot(e, 3, R7714_RTCP, (s, n) => e.protectRtcp(out, s, n))).toEqual(c.srtcp);
    e.destroySession(out);

    const inb = e.createSession(c.profile, dummy, 'inbound');
    expect(e.katSessionKeys(inb, 0, sessionKeySalt)).toBe(0);
    // one flipped bit in the last tag octet fails, and does not use up the index
    const bad = Buffer.from(c.srtp);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x01;
    expect(inSlot(e, 3, bad, (s, n) => e.unprotectRtp(inb, s, n))).toBe(SRTP_ERR_AUTH);
    const badRtcp = Buffer.from(c.srtcp);
    badRtcp[badRtcp.length - 5] = (badRtcp[badRtcp.length - 5] as number) ^ 0x01; // tag precedes E||index
    expect(inSlot(e, 3, badRtcp, (s, n) => e.unprotectRtcp(inb, s, n))).toBe(SRTP_ERR_AUTH);
    expect(inSlot(e, 3, c.srtp, (s, n) => e.unprotectRtp(inb, s, n))).toEqual(R7714_RTP);
    expect(inSlot(e, 3, c.srtcp, (s, n) => e.unprotectRtcp(inb, s, n))).toEqual(R7714_RTCP);
    e.destroySession(inb);
  });

  test('the node:crypto reference protects and unprotects the same packets', () => {
    const tx = new SrtpReferenceContext(c.profile, Buffer.alloc(c.key.length + 12));
    tx.setSessionKeys(session, session);
    expect(tx.protectRtp(R7714_RTP)).toEqual(c.srtp);
    tx.setRtcpIndex(MARS, 0x5d4);
    expect(tx.protectRtcp(R7714_RTCP)).toEqual(c.srtcp);
    const rx = new SrtpReferenceContext(c.profile, Buffer.alloc(c.key.length + 12));
    rx.setSessionKeys(session, session);
    const r = rx.unprotectRtp(c.srtp);
    expect(r.ok && r.packet).toEqual(R7714_RTP);
    const rr = rx.unprotectRtcp(c.srtcp);
    expect(rr.ok && rr.packet).toEqual(R7714_RTCP);
  });
});

describe("libsrtp's srtp_validate_gcm packets (AEAD_AES_128_GCM through the key derivation)", () => {
  test('module protect and unprotect', () => {
    const e = SrtpEngine.load();
    const out = e.createSession('AEAD_AES_128_GCM', LIBSRTP_GCM_KEY, 'outbound');
    const inb = e.createSession('AEAD_AES_128_GCM', LIBSRTP_GCM_KEY, 'inbound');
    expect(inSlot(e, 4, LIBSRTP_RTP_PLAIN, (s, n) => e.protectRtp(out, s, n))).toEqual(LIBSRTP_GCM_RTP_CIPHER);
    expect(inSlot(e, 4, LIBSRTP_GCM_RTP_CIPHER, (s, n) => e.unprotectRtp(inb, s, n))).toEqual(LIBSRTP_RTP_PLAIN);
    expect(inSlot(e, 4, LIBSRTP_RTCP_PLAIN, (s, n) => e.protectRtcp(out, s, n))).toEqual(LIBSRTP_GCM_RTCP_CIPHER);
    expect(inSlot(e, 4, LIBSRTP_GCM_RTCP_CIPHER, (s, n) => e.unprotectRtcp(inb, s, n))).toEqual(LIBSRTP_RTCP_PLAIN);
    e.destroySession(out);
    e.destroySession(inb);
  });

  test('node:crypto reference', () => {
    const tx = new SrtpReferenceContext('AEAD_AES_128_GCM', LIBSRTP_GCM_KEY);
    expect(tx.protectRtp(LIBSRTP_RTP_PLAIN)).toEqual(LIBSRTP_GCM_RTP_CIPHER);
    tx.setRtcpIndex(0xcafebabe, 1);
    expect(tx.protectRtcp(LIBSRTP_RTCP_PLAIN)).toEqual(LIBSRTP_GCM_RTCP_CIPHER);
  });

  test('the session-key hook refuses non-GCM sessions and bad handles', () => {
    const e = SrtpEngine.load();
    const h = e.createSession('AES_CM_128_HMAC_SHA1_80', LIBSRTP_TEST_KEY, 'outbound');
    expect(e.katSessionKeys(h, 1, Buffer.alloc(28))).toBe(SRTP_ERR_BAD_PARAM);
    e.destroySession(h);
    expect(srtpName(e.katSessionKeys(h, 1, Buffer.alloc(28)))).toBe('no_ctx');
  });
});

describe('RFC 3711 B.2 AES-CM keystream', () => {
  const keySalt = Buffer.concat([B2_KEY, B2_SALT]);

  test('libsrtp AES-ICM in the module produces the first blocks', () => {
    const e = SrtpEngine.load();
    expect(e.aesCmKeystream(keySalt, Buffer.alloc(16), 48)).toEqual(B2_HEAD);
  });

  test('libsrtp AES-ICM in the module produces blocks 0xFEFF..0xFF01', () => {
    const e = SrtpEngine.load();
    const iv = Buffer.alloc(16);
    iv.writeUInt16BE(0xfeff, 14); // libsrtp XORs the IV into salt||0000
    expect(e.aesCmKeystream(keySalt, iv, 48)).toEqual(B2_TAIL);
  });

  test('the node:crypto reference produces the same blocks', () => {
    const iv = Buffer.concat([B2_SALT, Buffer.alloc(2)]);
    expect(aesCmKeystream(B2_KEY, iv, 48)).toEqual(B2_HEAD);
    iv.writeUInt16BE(0xfeff, 14);
    expect(aesCmKeystream(B2_KEY, iv, 48)).toEqual(B2_TAIL);
  });
});

describe('RFC 3711 B.3 key derivation', () => {
  test('the reference derives the published session keys', () => {
    expect(deriveSessionKey(B3_MASTER_KEY, B3_MASTER_SALT, LABEL.RTP_ENCRYPTION, 16)).toEqual(B3_CIPHER_KEY);
    expect(deriveSessionKey(B3_MASTER_KEY, B3_MASTER_SALT, LABEL.RTP_SALT, 14)).toEqual(B3_CIPHER_SALT);
    expect(deriveSessionKey(B3_MASTER_KEY, B3_MASTER_SALT, LABEL.RTP_AUTH, 20)).toEqual(B3_AUTH_KEY);
  });

  test('the module protects with exactly the published session keys', () => {
    // Build the expected SRTP packet by hand from the B.3 session keys (no KDF involved),
    // then compare with what libsrtp in the module produces from the master key.
    const e = SrtpEngine.load();
    const h = e.createSession('AES_CM_128_HMAC_SHA1_80', Buffer.concat([B3_MASTER_KEY, B3_MASTER_SALT]), 'outbound');
    expect(h).toBeGreaterThanOrEqual(0);
    const plain = Buffer.from(LIBSRTP_RTP_PLAIN);
    plain.writeUInt16BE(0x0102, 2); // seq 258, ROC 0
    const got = inSlot(e, 5, plain, (s, n) => e.protectRtp(h, s, n));
    e.destroySession(h);

    const iv = Buffer.concat([B3_CIPHER_SALT, Buffer.alloc(2)]);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ plain.readUInt32BE(8)) >>> 0, 4); // SSRC
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ 0x0102, 12); // index = seq
    const c = createCipheriv('aes-128-ctr', B3_CIPHER_KEY, iv);
    const body = Buffer.concat([plain.subarray(0, 12), c.update(plain.subarray(12)), c.final()]);
    const tag = createHmac('sha1', B3_AUTH_KEY).update(body).update(Buffer.alloc(4)).digest().subarray(0, 10);
    expect(got).toEqual(Buffer.concat([body, tag]));
  });
});

describe("libsrtp's published test packets", () => {
  const cases = [
    {
      name: 'srtp_validate (AES_CM_128_HMAC_SHA1_80)',
      profile: 'AES_CM_128_HMAC_SHA1_80' as const,
      key: LIBSRTP_TEST_KEY,
      rtp: LIBSRTP_RTP_CIPHER,
      rtcp: LIBSRTP_RTCP_CIPHER as Buffer | undefined,
    },
    {
      name: 'srtp_validate_null (NULL_HMAC_SHA1_80)',
      profile: 'NULL_HMAC_SHA1_80' as const,
      key: LIBSRTP_TEST_KEY,
      rtp: LIBSRTP_NULL_RTP_CIPHER,
      rtcp: LIBSRTP_NULL_RTCP_CIPHER as Buffer | undefined,
    },
    {
      name: 'srtp_validate_aes_256 (AES_256_CM_HMAC_SHA1_80)',
      profile: 'AES_256_CM_HMAC_SHA1_80' as const,
      key: LIBSRTP_AES256_KEY,
      rtp: LIBSRTP_AES256_RTP_CIPHER,
      rtcp: undefined,
    },
  ];

  for (const c of cases) {
    test(`${c.name}: module protect and unprotect`, () => {
      const e = SrtpEngine.load();
      const out = e.createSession(c.profile, c.key, 'outbound');
      const inb = e.createSession(c.profile, c.key, 'inbound');
      expect(inSlot(e, 2, LIBSRTP_RTP_PLAIN, (s, n) => e.protectRtp(out, s, n))).toEqual(c.rtp);
      expect(inSlot(e, 2, c.rtp, (s, n) => e.unprotectRtp(inb, s, n))).toEqual(LIBSRTP_RTP_PLAIN);
      if (c.rtcp) {
        expect(inSlot(e, 2, LIBSRTP_RTCP_PLAIN, (s, n) => e.protectRtcp(out, s, n))).toEqual(c.rtcp);
        expect(inSlot(e, 2, c.rtcp, (s, n) => e.unprotectRtcp(inb, s, n))).toEqual(LIBSRTP_RTCP_PLAIN);
      }
      // One flipped bit in the published packet must fail authentication.
      const bad = Buffer.from(c.rtp);
      bad[14] = (bad[14] as number) ^ 0x01;
      bad.writeUInt16BE(0x1235, 2); // a fresh index, so replay is not what rejects it
      expect(inSlot(e, 2, bad, (s, n) => e.unprotectRtp(inb, s, n))).toBe(SRTP_ERR_AUTH);
      e.destroySession(out);
      e.destroySession(inb);
    });

    test(`${c.name}: node:crypto reference`, () => {
      const tx = new SrtpReferenceContext(c.profile, c.key);
      const rx = new SrtpReferenceContext(c.profile, c.key);
      expect(tx.protectRtp(LIBSRTP_RTP_PLAIN)).toEqual(c.rtp);
      const r = rx.unprotectRtp(c.rtp);
      expect(r.ok && r.packet).toEqual(LIBSRTP_RTP_PLAIN);
      if (c.rtcp) {
        const rr = rx.unprotectRtcp(c.rtcp);
        expect(rr.ok && rr.packet).toEqual(LIBSRTP_RTCP_PLAIN);
      }
    });
  }
});

describe('committed module', () => {
  test('matches its manifest (SHA-256, size, libsrtp version)', () => {
    if (process.env.SRTP_WASM_PATH) return; // CI: testing a rebuilt module, not the committed one
    const m = readManifest();
    const bytes = readFileSync(findWasmFile());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(m.sha256);
    expect(bytes.length).toBe(m.bytes);
    expect(m.libsrtp).toBe('2.5.0');
  });

  test('is standalone: only a WASI proc_exit import, the shim exports, fixed memory', () => {
    const file = process.env.SRTP_WASM_PATH ?? findWasmFile();
    const WA = (globalThis as unknown as { WebAssembly: WasmStatic }).WebAssembly;
    const mod = new WA.Module(readFileSync(file));
    expect(WA.Module.imports(mod).map((i) => `${i.module}.${i.name}`)).toEqual(['wasi_snapshot_preview1.proc_exit']);
    const exports = WA.Module.exports(mod).map((x) => x.name);
    for (const name of [
      'memory',
      'pp_init',
      'pp_protect_rtp',
      'pp_unprotect_rtp',
      'pp_protect_rtcp',
      'pp_unprotect_rtcp',
      'pp_session_update',
      'pp_stream_state',
    ]) {
      expect(exports).toContain(name);
    }
    // Memory section: initial == maximum pages (it can never grow).
    const e = SrtpEngine.load();
    expect(memoryLimits(readFileSync(file))).toEqual({ min: e.memoryBytes / 65536, max: e.memoryBytes / 65536 });
  });
});

interface WasmStatic {
  Module: {
    new (b: Uint8Array): object;
    imports(m: object): { module: string; name: string }[];
    exports(m: object): { name: string }[];
  };
}

/** Parse the memory section (id 5) of a wasm binary: limits of the first memory. */
function memoryLimits(b: Buffer): { min: number; max: number | undefined } | undefined {
  let p = 8;
  const leb = () => {
    let r = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const byte = b[p++] as number;
      r |= (byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
      shift += 7;
    }
    return r >>> 0;
  };
  while (p < b.length) {
    const id = b[p++] as number;
    const size = leb();
    const end = p + size;
    if (id === 5) {
      leb(); // count
      const flags = leb();
      const min = leb();
      const max = flags & 1 ? leb() : undefined;
      return { min, max };
    }
    p = end;
  }
  return undefined;
}
