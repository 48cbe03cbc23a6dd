import { cipherProfile, STRICT_CIPHERS, STRONG_CIPHERS, upstreamCipherProfile } from '../../src/tls/cipher-policy';
import { ConnectionTable } from '../../src/tls/connection-table';
import { deviceNameFromSubject } from '../../src/tls/peer-identity';
import { matchRemoteAddr } from '../../src/tls/remote-addr';
import { memberOrder } from '../../src/tls/upstream';

const base = { 'min-version': 'TLSv1.2' as const, ciphers: undefined, 'legacy-phones': false };

describe('cipher policy', () => {
  it('is strong by default, strict per subnet, legacy only when asked', () => {
    expect(cipherProfile(base, false)).toEqual({ minVersion: 'TLSv1.2', ciphers: STRONG_CIPHERS, label: 'strong' });
    expect(cipherProfile(base, true)).toEqual({ minVersion: 'TLSv1.2', ciphers: STRICT_CIPHERS, label: 'strict' });
    const legacy = cipherProfile({ ...base, 'min-version': 'TLSv1', 'legacy-phones': true }, false);
    expect(legacy).toMatchObject({ minVersion: 'TLSv1', label: 'legacy' });
    expect(legacy.ciphers).toMatch(/:AES128-SHA:@SECLEVEL=0$/);
    // strict never goes below TLS 1.2
    expect(cipherProfile({ ...base, 'min-version': 'TLSv1', 'legacy-phones': true }, true).minVersion).toBe('TLSv1.2');
  });
});

describe('upstream cipher policy (tls-proxy.upstream)', () => {
  it("is the phone side's table: strong by default, its legacy row when asked, with the upstream's own floor", () => {
    expect(upstreamCipherProfile({ 'min-version': 'TLSv1.2', ciphers: 'strong' })).toEqual(cipherProfile(base, false));
    const legacy = upstreamCipherProfile({ 'min-version': 'TLSv1.1', ciphers: 'legacy' });
    expect(legacy).toEqual({
      minVersion: 'TLSv1.1',
      ciphers: cipherProfile({ ...base, 'legacy-phones': true }, false).ciphers,
      label: 'legacy',
    });
    expect(upstreamCipherProfile({ 'min-version': 'TLSv1.3', ciphers: 'strong' }).minVersion).toBe('TLSv1.3');
  });
});

describe('remote-addr matching', () => {
  const rules = [
    { subnet: '10.0.0.0/8', trustpoint: 'a', 'strict-cipher': false },
    { subnet: '10.1.0.0/16', trustpoint: 'b', 'strict-cipher': true },
  ];
  it('picks the most specific subnet, else the default (-1)', () => {
    expect(matchRemoteAddr('10.1.2.3', rules)).toBe(1);
    expect(matchRemoteAddr('::ffff:10.2.0.1', rules)).toBe(0);
    expect(matchRemoteAddr('192.0.2.1', rules)).toBe(-1);
  });
});

describe('phone identity from the certificate', () => {
  it('reads LSC and MIC common names', () => {
    expect(deviceNameFromSubject({ CN: 'SEP001122334455' })).toBe('SEP001122334455');
    expect(deviceNameFromSubject({ CN: 'CP-8865-SEP00112233aabb' })).toBe('SEP00112233AABB');
    expect(deviceNameFromSubject({ CN: 'not a phone' })).toBeUndefined();
    expect(deviceNameFromSubject(undefined)).toBeUndefined();
  });
});

describe('connection table', () => {
  it('keeps the IOS counters and the maximum send queue with where it was seen', () => {
    const seen: string[] = [];
    const t = new ConnectionTable((n) => seen.push(n));
    t.count('send-failures');
    t.noteQueue(10, '10.0.0.1:5060');
    t.noteQueue(5, '10.0.0.2:5060');
    const lines = t.statistics().lines?.join('\n') ?? '';
    expect(lines).toContain('No. of send failures          : 1');
    expect(lines).toContain('Max. tls send queue size of 10 bytes, recorded for 10.0.0.1:5060');
    expect(seen).toEqual(['send-failures']);
  });
});

describe('upstream member order (cluster.members[].phone-interface)', () => {
  const members = [
    { name: 'pub', phoneInterface: 'outside' },
    { name: 'sub1', phoneInterface: 'outside-b' },
    { name: 'sub2' },
  ];
  test("a phone on a member's phone-interface tries that member first, the others in policy order", () => {
    expect(memberOrder(members, 'outside-b').map((m) => m.name)).toEqual(['sub1', 'pub', 'sub2']);
  });
  test('a phone on an interface no member names keeps the policy order', () => {
    expect(memberOrder(members, 'dmz').map((m) => m.name)).toEqual(['pub', 'sub1', 'sub2']);
    expect(memberOrder(members, undefined).map((m) => m.name)).toEqual(['pub', 'sub1', 'sub2']);
  });
});
