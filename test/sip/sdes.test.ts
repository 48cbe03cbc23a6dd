/**
 * SDES suites of issue 17 (RFC 7714 14.1): the parser and formatter know AEAD_AES_128_GCM
 * and AEAD_AES_256_GCM with their key||salt lengths; a leg takes them only when the caller
 * enables them (parseCryptoFor), so parseCrypto keeps refusing them.
 */
import {
  formatCrypto,
  isSdesSuite,
  parseCrypto,
  parseCryptoFor,
  SDES_AEAD_SUITES,
  SDES_DEFAULT_SUITES,
  SDES_KEY_BYTES,
  type SdesSuite,
} from '../../src/sip/sdes';
import { SRTP_PROFILES } from '../../wasm/srtp';

const ALL: readonly SdesSuite[] = [...SDES_DEFAULT_SUITES, ...SDES_AEAD_SUITES];
const keyOf = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 5) & 0xff));

describe.each([
  ['AEAD_AES_128_GCM', 28],
  ['AEAD_AES_256_GCM', 44],
] as const)('%s', (suite, bytes) => {
  test(`key params carry ${bytes} bytes of key || 96-bit salt; format and parse round-trip`, () => {
    const key = keyOf(bytes);
    const line = formatCrypto({ tag: 3, suite, key });
    expect(line).toBe(`3 ${suite} inline:${key.toString('base64')}`);
    const r = parseCryptoFor(line, ALL);
    expect(r).toEqual({ ok: true, crypto: { tag: 3, suite, key } });
    const withLifetime = parseCryptoFor(`${line}|2^31`, SDES_AEAD_SUITES);
    expect(withLifetime.ok && withLifetime.crypto.lifetime).toBe(2 ** 31);
  });

  test('an AES-CM-sized key (14-byte salt) is refused', () => {
    const wrong = keyOf(bytes + 2);
    const r = parseCryptoFor(`1 ${suite} inline:${wrong.toString('base64')}`, ALL);
    expect(r).toEqual({ ok: false, reason: `${suite} needs ${bytes} bytes of key and salt, got ${bytes + 2}` });
  });

  test('parseCrypto (the default set) refuses the suite as not enabled, not as unknown', () => {
    expect(isSdesSuite(suite)).toBe(true);
    const r = parseCrypto(`1 ${suite} inline:${keyOf(bytes).toString('base64')}`);
    expect(r).toEqual({ ok: false, reason: `crypto suite "${suite}" not enabled on this leg` });
  });

  test('UNENCRYPTED_SRTCP and other session parameters stay refused (the engine always encrypts SRTCP)', () => {
    const r = parseCryptoFor(`1 ${suite} inline:${keyOf(bytes).toString('base64')} UNENCRYPTED_SRTCP`, ALL);
    expect(r.ok).toBe(false);
  });
});

test('a leg that enables only the GCM suites refuses the AES-CM ones', () => {
  const r = parseCryptoFor(`1 AES_CM_128_HMAC_SHA1_80 inline:${keyOf(30).toString('base64')}`, SDES_AEAD_SUITES);
  expect(r).toEqual({ ok: false, reason: 'crypto suite "AES_CM_128_HMAC_SHA1_80" not enabled on this leg' });
});

test('every SDES suite is a media engine suite with the same key || salt length', () => {
  for (const s of ALL) {
    const p = SRTP_PROFILES[s];
    expect(SDES_KEY_BYTES[s]).toBe(p.keyLength + p.saltLength);
  }
  expect(Object.keys(SDES_KEY_BYTES).sort()).toEqual([...ALL].sort());
});
