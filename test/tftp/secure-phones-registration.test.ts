/** Issue 13 part 3: registrations keep a secure-phones entry alive; the view shows them. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SecurePhones } from '../../src/tftp/secure-phones';

const rec = {
  deviceName: 'SEP00DE0A1AB001',
  mac: '00DE0A1AB001',
  address: '198.51.100.50',
  port: 41972,
  interface: 'outside',
  originalMode: 'encrypted' as const,
  forcedMode: 'authenticated' as const,
  protocol: 'sccp' as const,
};

test('expiry counts from the last registration; a registration never creates an entry', () => {
  let now = 1_000_000;
  const db = new SecurePhones({ timeoutSec: 300, now: () => now });
  const reg = { address: '198.51.100.50', port: 50123, protocol: 'sccp' as const, transport: 'tls' as const };
  expect(db.touch('SEP00DE0A1AB001', reg)).toBe(false);
  expect(db.size).toBe(0);
  db.record(rec);
  now += 290_000;
  expect(db.touch('SEP00DE0A1AB001', reg)).toBe(true);
  now += 290_000; // 580 s after the fetch, 290 s after the registration
  expect(db.get('SEP00DE0A1AB001')).toMatchObject({ forcedMode: 'authenticated', registration: { port: 50123 } });
  now += 20_000; // 310 s after the registration
  expect(db.get('SEP00DE0A1AB001')).toBeUndefined();
  expect(db.touch('SEP00DE0A1AB001', reg)).toBe(false);
});

test('a config fetch keeps the registration; both survive a restart', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-sp-'));
  try {
    const file = path.join(dir, 'secure-phones.json');
    let now = 5_000_000;
    const db = new SecurePhones({ timeoutSec: 300, file, now: () => now });
    db.record(rec);
    db.touch('SEP00DE0A1AB001', { address: '198.51.100.50', port: 50123, protocol: 'sip', transport: 'tcp' });
    now += 1000;
    db.record(rec);
    db.flush();
    const again = new SecurePhones({ timeoutSec: 300, file, now: () => now });
    expect(again.load()).toBe(1);
    expect(again.get('SEP00DE0A1AB001')?.registration).toEqual({
      address: '198.51.100.50',
      port: 50123,
      protocol: 'sip',
      transport: 'tcp',
      at: new Date(5_000_000),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
