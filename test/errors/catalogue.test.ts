/** The error catalogue (src/errors.ts) and its operator documentation (docs/errors.md) agree. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SastImportError, TlvError } from '../../ctl';
import { CAPF_COUNTER_NAMES } from '../../src/capf/event-codes';
import {
  CAPF_EVENT_CODES,
  CATALOGUE_CODES,
  MEDIA_DROP_CODES,
  SRTP_ERROR_CODES,
  TFTP_OUTCOME_CODES,
  TLS_EVENT_CODES,
} from '../../src/error-codes';
import {
  ApplianceError,
  CnfParseError,
  ERROR_CLASSES,
  ERROR_CODES,
  PolicyError,
  SipParseError,
  TftpRequestError,
  TftpUpstreamError,
  TlsUpstreamError,
} from '../../src/errors';
import * as relay from '../../src/media/relay';
import { OUTCOMES } from '../../src/tftp/types';
import { COUNTER_NAMES } from '../../src/tls/connection-table';
import * as srtp from '../../wasm/srtp';

const DOC = readFileSync(path.resolve(__dirname, '../../docs/errors.md'), 'utf8');
const documented = [...DOC.matchAll(/^\| `(EPX_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);

/** fastify's expectedErrors: a code added without its row in docs/errors.md (or removed) moves this. */
const EXPECTED_CODES = 72;

test('every code is documented in docs/errors.md once, and only those', () => {
  expect(CATALOGUE_CODES).toHaveLength(EXPECTED_CODES);
  expect(documented).toHaveLength(new Set(documented).size);
  expect([...documented].sort()).toEqual([...CATALOGUE_CODES].sort());
});

test('codes follow the EPX_ naming, and each class has its own', () => {
  for (const code of CATALOGUE_CODES) expect(code).toMatch(/^EPX_[A-Z0-9_]+$/);
  expect(new Set(ERROR_CODES).size).toBe(ERROR_CLASSES.length);
});

/** Exported constants of a module whose names start with prefix, as [name, value]. */
function constants(mod: object, prefix: string): [string, number][] {
  return Object.entries(mod).filter((e): e is [string, number] => e[0].startsWith(prefix) && typeof e[1] === 'number');
}

describe('every counted name has a code, read from the list its module keeps', () => {
  test('TFTP outcomes (src/tftp/types.ts OUTCOMES); only the served ones have none', () => {
    expect(Object.keys(TFTP_OUTCOME_CODES).sort()).toEqual([...OUTCOMES].sort());
    const none = OUTCOMES.filter((o) => TFTP_OUTCOME_CODES[o] === null);
    expect(none).toEqual([
      'ctl-served',
      'config-signed-served',
      'config-unsigned-served',
      'resigned-served',
      'relayed',
      'duplicate-request',
    ]);
  });

  test('media drop verdicts (src/media/relay.ts DROP_*)', () => {
    const drops = constants(relay, 'DROP_');
    expect(drops.length).toBeGreaterThan(5);
    const codes: Record<number, string> = MEDIA_DROP_CODES;
    for (const [name, verdict] of drops) expect([name, codes[verdict]]).toEqual([name, expect.stringMatching(/^EPX_/)]);
    expect(Object.keys(codes).map(Number).sort()).toEqual(drops.map(([, v]) => v).sort());
  });

  test('SRTP return codes (wasm/srtp.ts SRTP_ERR_*)', () => {
    const errs = constants(srtp, 'SRTP_ERR_');
    expect(errs.length).toBeGreaterThan(15);
    const codes: Record<number, string> = SRTP_ERROR_CODES;
    for (const [name, rc] of errs) expect([name, codes[rc]]).toEqual([name, expect.stringMatching(/^EPX_/)]);
    expect(Object.keys(codes).map(Number).sort()).toEqual(errs.map(([, v]) => v).sort());
  });

  test('TLS proxy events (src/tls/connection-table.ts COUNTER_NAMES); closures and age-outs have none', () => {
    expect(Object.keys(TLS_EVENT_CODES).sort()).toEqual([...COUNTER_NAMES].sort());
    expect(COUNTER_NAMES.filter((c) => TLS_EVENT_CODES[c] === null)).toEqual([
      'remote-closures',
      'inactive-ageouts',
      'warnings-suppressed',
    ]);
  });
});

test('CAPF relay events (src/capf/event-codes.ts CAPF_COUNTER_NAMES); the normal ones have none', () => {
  expect(Object.keys(CAPF_EVENT_CODES).sort()).toEqual([...CAPF_COUNTER_NAMES].sort());
  expect(CAPF_COUNTER_NAMES.filter((c) => CAPF_EVENT_CODES[c] === null)).toEqual([
    'accepted',
    'relayed',
    'remote-closures',
    'idle-ageouts',
    'warnings-suppressed',
  ]);
});

test("a counted failure that a class also throws has that class's code", () => {
  expect(TFTP_OUTCOME_CODES['config-parse-error']).toBe(CnfParseError.code);
  expect(TFTP_OUTCOME_CODES['upstream-error']).toBe(TftpUpstreamError.code);
  expect(TFTP_OUTCOME_CODES['bad-request']).toBe(TftpRequestError.code);
  expect(TFTP_OUTCOME_CODES['access-violation']).toBe(TftpRequestError.code);
  expect(TLS_EVENT_CODES['connection-failures']).toBe(TlsUpstreamError.code);
  // The packet path and the engine name one failure alike.
  expect(MEDIA_DROP_CODES[relay.DROP_AUTH]).toBe(SRTP_ERROR_CODES[srtp.SRTP_ERR_AUTH]);
  expect(MEDIA_DROP_CODES[relay.DROP_REPLAY]).toBe(SRTP_ERROR_CODES[srtp.SRTP_ERR_REPLAY]);
  expect(MEDIA_DROP_CODES[relay.DROP_OVERSIZE]).toBe(SRTP_ERROR_CODES[srtp.SRTP_ERR_TOO_LONG]);
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
