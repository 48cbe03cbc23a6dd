import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TftpRequestError } from '../../src/errors';
import { checkName, classify } from '../../src/tftp/names';
import { decodeError, encodeError, parseRequest, TftpErrorCode } from '../../src/tftp/packet';
import { RateLimiter } from '../../src/tftp/rate-limit';
import { SecurePhones } from '../../src/tftp/secure-phones';

const rrq = (...parts: string[]) =>
  Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${parts.join('\0')}\0`, 'latin1')]);

function refusal(fn: () => unknown): TftpRequestError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TftpRequestError) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('TFTP request codec', () => {
  test('parses RRQ with options', () => {
    expect(parseRequest(rrq('CTLFile.tlv', 'OCTET', 'blksize', '1428', 'TSIZE', '0'))).toEqual({
      op: 'RRQ',
      file: 'CTLFile.tlv',
      mode: 'octet',
      options: { blksize: '1428', tsize: '0' },
    });
  });
  test('NUL inside the name is an access violation; truncated packets are illegal operations', () => {
    expect(refusal(() => parseRequest(rrq('CTLFile.tlv', '../../etc/passwd', 'octet'))).tftpCode).toBe(
      TftpErrorCode.AccessViolation,
    );
    expect(refusal(() => parseRequest(Buffer.from([0, 1, 65, 66]))).tftpCode).toBe(TftpErrorCode.IllegalOperation);
    expect(refusal(() => parseRequest(Buffer.from([0, 3, 0, 1, 0]))).reason).toContain('opcode 3');
    expect(refusal(() => parseRequest(rrq('a', 'octet', 'blksize'))).reason).toContain('option at byte');
  });
  test('error packets round-trip', () => {
    const b = encodeError(TftpErrorCode.FileNotFound, 'File not found');
    expect([...b.subarray(0, 4)]).toEqual([0, 5, 0, 1]);
    expect(b[b.length - 1]).toBe(0);
    expect(decodeError(b)).toEqual({ code: 1, message: 'File not found' });
  });
});

describe('file names', () => {
  test.each([
    ['../etc/passwd', 'traversal'],
    ['Desktops/../../x', 'traversal'],
    ['/etc/passwd', 'absolute'],
    ['C:boot.ini', 'absolute'],
    ['a\\b', 'backslash'],
    ['a//b', 'empty'],
    ['a b', 'character'],
    ['x'.repeat(256), 'longer'],
    ['', 'empty'],
  ])('%j refused (%s)', (name, why) => {
    const e = refusal(() => checkName(name));
    expect(e.tftpCode).toBe(TftpErrorCode.AccessViolation);
    expect(e.code).toBe('EPX_TFTP_REQUEST_REFUSED');
    expect(e.reason).toContain(why);
  });
  test.each([
    'CTLFile.tlv',
    'SEP001122AABBCC.cnf.xml.sgn',
    'English_United_States/g3-tones.xml',
    'SIP78xx.14-1-1-0001-136.loads',
    'Desktops/320x212x12/List.xml',
  ])('%j allowed', (name) => expect(() => checkName(name)).not.toThrow());
  test('classification', () => {
    expect(classify('CTLFile.tlv')).toEqual({ kind: 'ctl', deviceName: undefined });
    expect(classify('CTLSEP001122aabbcc.tlv')).toEqual({ kind: 'ctl', deviceName: 'SEP001122AABBCC' });
    expect(classify('ITLSEP001122AABBCC.tlv').kind).toBe('itl');
    expect(classify('SEP001122aabbcc.cnf.xml.sgn')).toEqual({
      kind: 'config',
      deviceName: 'SEP001122AABBCC',
      mac: '001122AABBCC',
      signed: true,
      upstreamName: 'SEP001122aabbcc.cnf.xml',
    });
    expect(classify('SEP001122AABBCC.cnf.xml')).toMatchObject({ kind: 'config', signed: false });
    expect(classify('SEP001122AABBCC.cnf.xml.enc.sgn').kind).toBe('encrypted-config');
    expect(classify('XMLDefault.cnf.xml').kind).toBe('relay');
    expect(classify('English_United_States/g3-tones.xml.sgn')).toEqual({
      kind: 'signed-file',
      plainName: 'English_United_States/g3-tones.xml',
    });
    expect(classify('SEP0011.cnf.xml').kind).toBe('relay');
  });
});

describe('RateLimiter', () => {
  test('per-source burst then rate; other sources unaffected; global cap', () => {
    const rl = new RateLimiter({ perSource: 10, global: 25, burst: 5 });
    const verdicts = Array.from({ length: 8 }, () => rl.take('a', 0));
    expect(verdicts.filter((v) => v === 'ok')).toHaveLength(5);
    expect(verdicts.slice(5)).toEqual(['per-source', 'per-source', 'per-source']);
    expect(rl.take('a', 100)).toBe('ok'); // 100 ms at 10/s = 1 token
    expect(rl.take('a', 100)).toBe('per-source');
  });
  test('global cap applies across sources; refused requests take no token', () => {
    const rl = new RateLimiter({ perSource: 10, global: 25, burst: 5 });
    for (let s = 0; s < 5; s++) for (let i = 0; i < 6; i++) rl.take(`s${s}`, 0);
    expect(rl.take('z', 0)).toBe('global');
    expect(rl.take('z', 40)).toBe('ok'); // 40 ms at 25/s = 1 token
  });
  test('sweep forgets idle sources', () => {
    const rl = new RateLimiter({ perSource: 10, global: 1000, burst: 5 });
    rl.take('a', 0);
    rl.take('b', 0);
    rl.sweep(10_000);
    expect(rl.trackedSources).toBe(0);
  });
});

describe('SecurePhones', () => {
  const rec = {
    deviceName: 'SEP001122AABBCC',
    mac: '001122AABBCC',
    address: '127.0.0.5',
    originalMode: 'nonsecure' as const,
    forcedMode: 'encrypted' as const,
    protocol: 'sip' as const,
  };
  test('record/get/expiry/clear and persistence across instances', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sp-'));
    try {
      let now = 1_000_000;
      const file = path.join(dir, 'secure-phones.json');
      const a = new SecurePhones({ timeoutSec: 300, file, now: () => now });
      a.record(rec);
      now += 10_000;
      a.record({ ...rec, address: '127.0.0.6' });
      const e = a.get('sep001122aabbcc');
      expect(e?.address).toBe('127.0.0.6');
      expect(e?.firstSeen.getTime()).toBe(1_000_000);
      expect(e?.lastSeen.getTime()).toBe(1_010_000);
      a.flush();
      const b = new SecurePhones({ timeoutSec: 300, file, now: () => now });
      expect(b.load()).toBe(1);
      expect(b.get(rec.deviceName)).toMatchObject({
        originalMode: 'nonsecure',
        forcedMode: 'encrypted',
        protocol: 'sip',
      });
      now += 301_000;
      expect(b.get(rec.deviceName)).toBeUndefined();
      expect(b.list()).toEqual([]);
      a.record({ ...rec, deviceName: 'SEP0000000000AA', mac: '0000000000AA' });
      expect(a.clear('0000000000aa')).toBe(1);
      expect(a.clear()).toBe(0);
      a.flush(); // no debounced write left to recreate the directory after the test removed it
      writeFileSync(file, '{broken');
      const errors: string[] = [];
      const c = new SecurePhones({ timeoutSec: 300, file, now: () => now, onError: (err) => errors.push(err.message) });
      expect(c.load()).toBe(0);
      expect(errors[0]).toContain('not JSON');
      // Kept aside for the operator (see the corrupt-database test below for the .bak fallback).
      const aside = readdirSync(dir).filter((f) => f.startsWith('secure-phones.json.corrupt-'));
      expect(aside).toHaveLength(1);
      expect(readFileSync(path.join(dir, aside[0] as string), 'utf8')).toBe('{broken');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a corrupt database is renamed aside with a log line and the last good copy (.bak) is used', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sp-'));
    try {
      const now = Date.parse('2025-03-01T10:00:00.000Z');
      const file = path.join(dir, 'secure-phones.json');
      const a = new SecurePhones({ timeoutSec: 300, file, now: () => now });
      a.record(rec);
      a.flush();
      // No previous version yet: no .bak. The second write keeps the first as the last good copy.
      expect(existsSync(`${file}.bak`)).toBe(false);
      a.record({ ...rec, deviceName: 'SEP0000000000AA', mac: '0000000000AA' });
      a.flush();
      expect(JSON.parse(readFileSync(`${file}.bak`, 'utf8')).phones).toHaveLength(1);
      expect(JSON.parse(readFileSync(file, 'utf8')).phones).toHaveLength(2);
      // A torn write: the database does not parse.
      writeFileSync(file, '{"version":1,"phones":[{"deviceName":"SEP');
      const errors: string[] = [];
      const b = new SecurePhones({ timeoutSec: 300, file, now: () => now, onError: (e) => errors.push(e.message) });
      expect(b.load()).toBe(1);
      expect(b.get(rec.deviceName)?.address).toBe(rec.address);
      const aside = `${file}.corrupt-2025-03-01T10:00:00.000Z`;
      expect(readFileSync(aside, 'utf8')).toBe('{"version":1,"phones":[{"deviceName":"SEP');
      expect(existsSync(file)).toBe(false);
      expect(errors).toEqual([
        expect.stringContaining('not JSON'),
        `${file}: corrupt, renamed to ${aside}`,
        `${file}: using the last good copy ${file}.bak (1 phones)`,
      ]);
      // Valid JSON without the phones list is corrupt too; with no good copy the table starts empty.
      rmSync(`${file}.bak`);
      writeFileSync(file, '[]');
      const c = new SecurePhones({ timeoutSec: 300, file, now: () => now + 1, onError: (e) => errors.push(e.message) });
      expect(c.load()).toBe(0);
      expect(errors.at(-1)).toContain('no last good copy');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
