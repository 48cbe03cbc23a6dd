/**
 * The Debian package's sources (packaging/deb/), checked without building or installing it
 * (packaging/deb/ci-check.sh does that, as root, in .ci/run): the systemd unit passes
 * `systemd-analyze verify`, keeps its hardening, and its LimitNOFILE covers the media sockets of
 * the default policy and of the schema's default port range; the maintainer scripts parse and
 * touch systemd only when it runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../support/cli-process';

const DEB = path.join(ROOT, 'packaging/deb');
const unit = readFileSync(path.join(DEB, 'phone-proxy.service'), 'utf8');
const directive = (key: string) =>
  unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

describe('packaging/deb/phone-proxy.service', () => {
  test('systemd-analyze verify finds nothing to say (ExecStart pointed at a stand-in)', () => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'pp-unit-'));
    try {
      const stub = path.join(work, 'phone-proxy');
      writeFileSync(stub, '#!/bin/sh\n');
      chmodSync(stub, 0o755);
      const copy = path.join(work, 'phone-proxy.service');
      writeFileSync(copy, unit.replaceAll('/usr/bin/phone-proxy ', `${stub} `));
      const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
      if (r.error) throw new Error(`systemd-analyze not runnable (apt-get install systemd): ${r.error.message}`);
      expect(`${r.stdout}${r.stderr}`).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  test('runs the installed binary as phone-proxy, hardened, with only CAP_NET_BIND_SERVICE', () => {
    expect(directive('ExecStart')).toEqual([
      '/usr/bin/phone-proxy start --policy /etc/phone-proxy/policy.yaml --state /var/lib/phone-proxy --control-dir /run/phone-proxy',
    ]);
    const want: Record<string, string> = {
      User: 'phone-proxy',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      ReadWritePaths: '/var/lib/phone-proxy',
      RuntimeDirectory: 'phone-proxy',
      RuntimeDirectoryMode: '0750',
      AmbientCapabilities: 'CAP_NET_BIND_SERVICE',
      CapabilityBoundingSet: 'CAP_NET_BIND_SERVICE',
      ExecReload: '/bin/kill -HUP $MAINPID',
      Restart: 'on-failure',
    };
    for (const [k, v] of Object.entries(want)) expect(`${k}=${directive(k).join(',')}`).toBe(`${k}=${v}`);
  });

  test('LimitNOFILE covers 2 sockets per media port plus signaling', () => {
    const limit = Number(directive('LimitNOFILE')[0]);
    const policy = parse(readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8'));
    const mt = policy['media-termination'];
    // 4 sockets per call, one port pair per leg on each of two addresses: 2 sockets per port.
    const defaultPolicyMedia = 2 * (mt['rtp-max-port'] - mt['rtp-min-port'] + 1);
    const schemaDefaultMedia = 2 * (32767 - 16384 + 1);
    expect(limit).toBeGreaterThanOrEqual(defaultPolicyMedia + 2 * 10_000 + 256);
    expect(limit).toBeGreaterThanOrEqual(schemaDefaultMedia + 2 * 10_000 + 256);
  });
});

describe('packaging/deb maintainer scripts', () => {
  test.each(['postinst', 'prerm', 'postrm', 'phone-proxy'])('%s parses (sh -n)', (name) => {
    execFileSync('sh', ['-n', path.join(DEB, name)]);
  });

  test.each(['postinst', 'prerm', 'postrm'])('%s starts, stops or reloads systemd only when it runs', (name) => {
    const text = readFileSync(path.join(DEB, name), 'utf8');
    // Every systemctl / deb-systemd-invoke call sits inside an `if [ -d /run/systemd/system ]` block.
    let depth = 0;
    let guardedAt = -1;
    for (const line of text.split('\n').map((l) => l.trim())) {
      if (/^if\b/.test(line)) {
        depth++;
        if (line.includes('[ -d /run/systemd/system ]') && guardedAt < 0) guardedAt = depth;
      }
      if (/^(systemctl|deb-systemd-invoke)\b/.test(line)) expect(`${name}: ${line}: ${guardedAt > 0}`).toMatch(/true$/);
      if (/^fi\b/.test(line)) {
        if (depth === guardedAt) guardedAt = -1;
        depth--;
      }
    }
  });
});
