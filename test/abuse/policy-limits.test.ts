/**
 * The issue-12 limits as policy keys: defaults, refusals whose message names the key, the
 * cross-field rules, and the composition root handing them to the TLS proxy and media
 * termination (src/appliance.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { parseDocument } from 'yaml';
import { buildServices } from '../../src/appliance';
import { parsePolicy } from '../../src/config/load-policy';
import type { ServiceContext } from '../../src/contracts/service';
import type { ApplianceState } from '../../src/contracts/state';
import { PolicyError } from '../../src/errors';
import { Logs } from '../../src/log';
import { MediaService } from '../../src/media/service';
import { type TlsProxyDeps, TlsProxyService } from '../../src/tls/service';

const DEFAULT = path.resolve(__dirname, '../../policies/default.yaml');
const text = readFileSync(DEFAULT, 'utf8');

function withKeys(section: string, keys: Record<string, unknown>): string {
  const doc = parseDocument(text);
  for (const [k, v] of Object.entries(keys)) doc.setIn([section, k], v);
  return doc.toString();
}

function problems(yaml: string): string[] {
  try {
    parsePolicy(yaml, 'p.yaml');
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  return [];
}

describe('issue 12 limits in the policy', () => {
  test('defaults are the documented ones', () => {
    const p = parsePolicy(text, 'p.yaml').policy;
    expect(p['tls-proxy']).toMatchObject({
      'max-connections': 10_000,
      'max-connections-per-source': 50,
      'max-pending-handshakes-per-source': 10,
      'max-connections-per-device': 4,
      'handshake-timeout': 10,
      'message-timeout': 5,
    });
    expect(p['media-termination']).toMatchObject({ 'max-sessions-per-phone': 12, 'max-sessions-per-connection': 8 });
    expect(p['media-termination']['max-sessions']).toBeUndefined();
  });

  test.each([
    ['tls-proxy', 'max-connections', 0],
    ['tls-proxy', 'max-connections-per-source', 2.5],
    ['tls-proxy', 'max-pending-handshakes-per-source', 2_000_000],
    ['tls-proxy', 'max-connections-per-device', -1],
    ['tls-proxy', 'handshake-timeout', 301],
    ['tls-proxy', 'message-timeout', 0],
    ['media-termination', 'max-sessions-per-phone', 0],
    ['media-termination', 'max-sessions-per-connection', 1.5],
    ['media-termination', 'max-sessions', 70_000],
  ])('refuses %s.%s: %p, naming the key', (section, key, value) => {
    const found = problems(withKeys(section, { [key]: value }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      new RegExp(`^p\\.yaml:\\d+:\\d+: ${section}\\.${key}: ${section}\\.${key} must be a whole number from 1 to \\d+`),
    );
  });

  test('a per-source limit above the total (or pending above per-source) is refused', () => {
    const found = problems(
      withKeys('tls-proxy', {
        'max-connections': 100,
        'max-connections-per-source': 200,
        'max-pending-handshakes-per-source': 300,
      }),
    );
    expect(found).toEqual([
      expect.stringMatching(
        /tls-proxy\.max-connections-per-source: tls-proxy\.max-connections-per-source \(200\) must not exceed tls-proxy\.max-connections \(100\)/,
      ),
      expect.stringMatching(
        /tls-proxy\.max-pending-handshakes-per-source \(300\) must not exceed tls-proxy\.max-connections-per-source \(200\)/,
      ),
    ]);
  });

  test('the composition root hands the keys to the TLS proxy and media termination', () => {
    const yaml = withKeys('tls-proxy', {
      'max-connections': 700,
      'max-connections-per-source': 7,
      'max-pending-handshakes-per-source': 3,
      'max-connections-per-device': 2,
      'handshake-timeout': 4,
      'message-timeout': 2,
    });
    const doc = parseDocument(yaml);
    doc.setIn(['media-termination', 'max-sessions-per-phone'], 5);
    doc.setIn(['media-termination', 'max-sessions-per-connection'], 3);
    doc.setIn(['media-termination', 'max-sessions'], 40);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-limits-'));
    try {
      const ctx: ServiceContext = {
        loaded: parsePolicy(doc.toString(), 'p.yaml'),
        // Constructors only read the state directory's path; nothing is started here.
        state: { dir } as unknown as ApplianceState,
        logs: new Logs('fatal', { write: () => undefined }),
        metrics: new Registry(),
      };
      const services = buildServices(ctx);
      const tls = services.find((s) => s instanceof TlsProxyService) as TlsProxyService;
      const media = services.find((s) => s instanceof MediaService) as MediaService;
      expect(tls.admission.limits).toEqual({
        maxConnections: 700,
        maxPerSource: 7,
        maxPendingPerSource: 3,
        maxPerDevice: 2,
      });
      // The timeouts go to the proxies built at start; the deps carry them there.
      const deps = (tls as unknown as { deps: TlsProxyDeps }).deps;
      expect([deps.handshakeTimeoutMs, deps.messageTimeoutMs]).toEqual([4000, 2000]);
      expect(media.caps).toEqual({ perPhone: 5, perConnection: 3, global: 40 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
