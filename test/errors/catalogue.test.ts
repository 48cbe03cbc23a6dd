/** The error catalogue (src/errors.ts) and its operator documentation (docs/errors.md) agree. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SastImportError, TlvError } from '../../ctl';
import {
  ApplianceError,
  ERROR_CODES,
  PolicyError,
  SipParseError,
  TftpUpstreamError,
  TlsUpstreamError,
} from '../../src/errors';

const DOC = readFileSync(path.resolve(__dirname, '../../docs/errors.md'), 'utf8');
const documented = [...DOC.matchAll(/^\| `(EPX_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);

test('every code is documented in docs/errors.md, and only those', () => {
  expect(ERROR_CODES.length).toBeGreaterThan(0);
  expect([...documented].sort()).toEqual([...ERROR_CODES].sort());
});

test('codes are unique and follow the EPX_ naming', () => {
  expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  for (const code of ERROR_CODES) expect(code).toMatch(/^EPX_[A-Z0-9_]+$/);
});

test('an error carries its code and name, and instanceof follows the code', () => {
  const err = new SipParseError('bad start line');
  expect(err.code).toBe('EPX_SIP_PARSE');
  expect(err.name).toBe('SipParseError');
  expect(err).toBeInstanceOf(ApplianceError);
  expect(err).toBeInstanceOf(SipParseError);
  expect(err).not.toBeInstanceOf(PolicyError);
  expect(new Error('plain')).not.toBeInstanceOf(ApplianceError);
});

test('instanceof holds for an error made by another copy of the module (jest registry, worker)', () => {
  let foreign: unknown;
  jest.isolateModules(() => {
    const other = require('../../src/errors') as typeof import('../../src/errors');
    expect(other.SipParseError).not.toBe(SipParseError);
    foreign = new other.SipParseError('from the other copy');
  });
  expect(foreign).toBeInstanceOf(SipParseError);
  expect(foreign).toBeInstanceOf(ApplianceError);
  expect(foreign).not.toBeInstanceOf(PolicyError);
});

test("the toolkit's errors (ctl/errors.ts, which may not import src/) carry the same brand", () => {
  const err = new TlvError('TRUNCATED', 3, undefined, 'item expected');
  expect(err).toBeInstanceOf(ApplianceError);
  expect(err).toBeInstanceOf(TlvError);
  expect(err).not.toBeInstanceOf(SastImportError);
  expect({ code: err.code, reason: err.reason, name: err.name }).toEqual({
    code: 'EPX_CTL_TLV',
    reason: 'TRUNCATED',
    name: 'TlvError',
  });
  expect(ERROR_CODES).toEqual(expect.arrayContaining(['EPX_CTL_TLV', 'EPX_SAST_IMPORT']));
});

test('the TFTP and TLS upstream errors, one name before, are two classes with two codes', () => {
  const tftp = new TftpUpstreamError('timeout', undefined, true);
  const tls = new TlsUpstreamError('handshake failed', true);
  expect(tftp).not.toBeInstanceOf(TlsUpstreamError);
  expect(tls).not.toBeInstanceOf(TftpUpstreamError);
  expect([tftp.code, tls.code]).toEqual(['EPX_TFTP_UPSTREAM', 'EPX_TLS_UPSTREAM']);
});
