/**
 * Known-answer tests: RFC 3711 Appendix B.2 (AES-CM keystream) and B.3 (key derivation),
 * and libsrtp's own published test packets (test/srtp_driver.c: srtp_validate,
 * srtp_validate_null, srtp_validate_aes_256), run against the WebAssembly module and
 * against the node:crypto reference. Also checks the committed module against its manifest.
 *
 * CI runs this file against a freshly rebuilt module with SRTP_WASM_PATH=... when needed.
 */
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { findWasmFile, readManifest, SRTP_ERR_AUTH, SrtpEngine } from '../../wasm/srtp';
import { aesCmKeystream, deriveSessionKey, LABEL, SrtpReferenceContext } from '../../wasm/srtp-reference';
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
