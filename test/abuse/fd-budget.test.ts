/** The fd budget (src/fd-budget.ts): each term from the policy, the limit parser, the verdict. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { parsePolicy } from '../../src/config/load-policy';
import { describeFdBudget, fdBudget, fdVerdict, parseNofileLimit, portPairs } from '../../src/fd-budget';

const text = readFileSync(path.resolve(__dirname, '../../policies/default.yaml'), 'utf8');
const policy = (edit: (d: ReturnType<typeof parseDocument>) => void = () => undefined) => {
  const d = parseDocument(text);
  edit(d);
  return parsePolicy(d.toString(), 'p.yaml').policy;
};
const terms = (b: ReturnType<typeof fdBudget>) => Object.fromEntries(b.terms.map((t) => [t.name, t.fds]));

describe('fd budget', () => {
  test('port pairs as the media pool hands them out', () => {
    expect(portPairs(20000, 29999)).toBe(5000);
    expect(portPairs(20001, 20004)).toBe(1); // 20002/20003; 20004 has no RTCP port
    expect(portPairs(20000, 20000)).toBe(0);
  });

  test('the default policy, term by term', () => {
    const b = fdBudget(policy(), 2);
    expect(terms(b)).toEqual({
      base: 64,
      'media-workers': 8,
      listeners: 5, // one outside interface: tftp, sip-tls, sccp-tls; control; metrics
      control: 16,
      tls: 20_000,
      tftp: 2000,
      // Two addresses x 5000 pairs: the ports bound it (2 sockets a pair), not the 10,000-row table.
      media: 20_000,
    });
    expect(b.worstCase).toBe(42_093);
    expect(b.minimum).toBe(64 + 8 + 5 + 16 + 8);
  });

  test('the policy limits move their terms', () => {
    const b = fdBudget(
      policy((d) => {
        d.setIn(['tls-proxy', 'max-connections'], 100);
        d.setIn(['media-termination', 'max-sessions'], 50);
        d.setIn(['media-termination', 'workers'], 1);
        d.addIn(['interfaces'], { name: 'branch', address: '127.0.3.1/24', role: 'outside' });
        d.addIn(['ctl-file', 'records'], { function: 'cucm-tftp', trustpoint: 'pp-server', address: '127.0.3.1' });
      }),
    );
    expect(terms(b)).toMatchObject({ 'media-workers': 4, listeners: 8, tls: 200, tftp: 4000, media: 200 });
  });

  test('a global media address: both legs from one pool', () => {
    const b = fdBudget(
      policy((d) => {
        d.deleteIn(['media-termination', 'addresses']);
        d.setIn(['media-termination', 'address'], '127.0.1.10');
        d.setIn(['media-termination', 'rtp-max-port'], 20099);
      }),
      1,
    );
    // 50 pairs, 25 sessions of 2 pairs: 100 sockets.
    expect(terms(b).media).toBe(100);
  });

  test('reads "Max open files" from /proc/self/limits text', () => {
    const limits = [
      'Limit                     Soft Limit           Hard Limit           Units',
      'Max processes             63448                63448                processes',
      'Max open files            256                  4096                 files',
    ].join('\n');
    expect(parseNofileLimit(limits)).toEqual({ soft: 256, hard: 4096 });
    expect(parseNofileLimit('Max open files            unlimited            unlimited            files')).toEqual({
      soft: Number.POSITIVE_INFINITY,
      hard: Number.POSITIVE_INFINITY,
    });
    expect(parseNofileLimit('nothing here')).toBeUndefined();
  });

  test('ok, short (warn) or refuse, and the lines name every term', () => {
    const b = fdBudget(policy(), 2);
    expect(fdVerdict(b, 65_536)).toBe('ok');
    expect(fdVerdict(b, 256)).toBe('short');
    expect(fdVerdict(b, b.minimum - 1)).toBe('refuse');
    const lines = describeFdBudget(b, { soft: 256, hard: 256 }).join('\n');
    expect(lines).toMatch(/soft limit 256.*worst case needs 42093/);
    for (const t of b.terms) expect(lines).toContain(t.name);
  });
});
