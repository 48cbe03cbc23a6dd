/** The listen section: a port, `{ port, address }` or `false` per listener (issue 13). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { parsePolicy } from '../../src/config/load-policy';
import { listenerEndpoint } from '../../src/config/policy-schema';
import { PolicyError } from '../../src/errors';

const DEFAULT = readFileSync(path.resolve(__dirname, '../../policies/default.yaml'), 'utf8');
const OUTSIDE = (parseDocument(DEFAULT).toJS().interfaces as { address: string; role: string }[])
  .find((i) => i.role === 'outside')
  ?.address.split('/')[0] as string;

function withListen(listen: unknown) {
  const doc = parseDocument(DEFAULT);
  doc.set('listen', listen);
  return parsePolicy(doc.toString(), 'listen.yaml').policy.listen;
}

function problems(listen: unknown): string[] {
  try {
    withListen(listen);
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  return [];
}

test('the current form stays valid: ports, defaults, nonsecure listeners off unless set', () => {
  const l = withListen({ tftp: 10069, 'sip-tls': 15061 });
  expect(listenerEndpoint(l, 'tftp')).toEqual({ port: 10069 });
  expect(listenerEndpoint(l, 'sip-tls')).toEqual({ port: 15061 });
  expect(listenerEndpoint(l, 'sccp-tls')).toEqual({ port: 2443 });
  expect(listenerEndpoint(l, 'sip')).toBeUndefined();
  expect(listenerEndpoint(l, 'sccp')).toBeUndefined();
});

test('a listener with an address binds only there; false switches it off (a SIP edge without TFTP)', () => {
  const l = withListen({ tftp: false, 'sip-tls': { port: 15061, address: OUTSIDE }, sccp: 12000, 'sccp-tls': false });
  expect(listenerEndpoint(l, 'tftp')).toBeUndefined();
  expect(listenerEndpoint(l, 'sccp-tls')).toBeUndefined();
  expect(listenerEndpoint(l, 'sip-tls')).toEqual({ port: 15061, address: OUTSIDE });
  expect(listenerEndpoint(l, 'sccp')).toEqual({ port: 12000 });
  // The port a phone's config is rewritten to stays a number.
  expect(l['sip-tls']).toBe(15061);
});

test('an address that is no outside interface is refused; ports collide per protocol and address', () => {
  expect(problems({ sip: { port: 5060, address: '192.0.2.99' } }).join('\n')).toMatch(
    /listen\.sip\.address: 192\.0\.2\.99 is not the address of an outside interface/,
  );
  expect(problems({ sip: 5061 }).join('\n')).toMatch(/listen\.sip: port 5061 is already used by listen\.sip-tls/);
  // TFTP is UDP: the same number as a TCP listener is no collision.
  expect(problems({ tftp: 5060, sip: 5060 })).toEqual([]);
  expect(problems({ sip: 'yes' }).length).toBeGreaterThan(0);
});
