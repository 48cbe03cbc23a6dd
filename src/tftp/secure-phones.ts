/**
 * The secure-phones database: every phone whose configuration the interceptor rewrote, with the
 * security mode UCM gave it (the TLS proxy chooses the upstream leg from `originalMode`) and the
 * mode the appliance forced. Entries expire `secure-phones-timeout` seconds after the last fetch.
 * Kept in memory, persisted as `secure-phones.json` in the state directory so a restart keeps it.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type SecurityMode = 'nonsecure' | 'authenticated' | 'encrypted';

export interface SecurePhoneEntry {
  /** SEP001122334455 */
  deviceName: string;
  mac: string;
  address: string;
  port?: number;
  /** Name of the outside interface the phone's request arrived on. */
  interface?: string;
  firstSeen: Date;
  lastSeen: Date;
  originalMode: SecurityMode;
  forcedMode: 'authenticated' | 'encrypted';
  protocol?: 'sip' | 'sccp';
}

export type SecurePhoneRecord = Omit<SecurePhoneEntry, 'firstSeen' | 'lastSeen'>;

export interface SecurePhonesOptions {
  /** Seconds an entry lives after its last config fetch. */
  timeoutSec: number;
  /** Where to persist (state dir/secure-phones.json); in memory only when absent. */
  file?: string;
  now?: () => number;
  /** Delay before a change is written, so a boot storm writes the file once, not per phone. */
  flushDelayMs?: number;
  onError?: (err: Error) => void;
}

export const SECURE_PHONES_FILE = 'secure-phones.json';
const MODES = new Set(['nonsecure', 'authenticated', 'encrypted']);

export class SecurePhones {
  private readonly entries = new Map<string, SecurePhoneEntry>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SecurePhonesOptions) {
    this.now = opts.now ?? Date.now;
  }

  private expired(e: SecurePhoneEntry, now = this.now()): boolean {
    return now - e.lastSeen.getTime() > this.opts.timeoutSec * 1000;
  }

  record(rec: SecurePhoneRecord): SecurePhoneEntry {
    const now = new Date(this.now());
    const old = this.entries.get(rec.deviceName);
    const entry: SecurePhoneEntry = {
      ...rec,
      firstSeen: old && !this.expired(old) ? old.firstSeen : now,
      lastSeen: now,
    };
    this.entries.set(rec.deviceName, entry);
    this.changed();
    return entry;
  }

  get(deviceName: string): SecurePhoneEntry | undefined {
    const e = this.entries.get(deviceName.toUpperCase());
    if (!e) return undefined;
    if (this.expired(e)) {
      this.entries.delete(e.deviceName);
      this.changed();
      return undefined;
    }
    return e;
  }

  /** Live entries for phones at `address` (several phones may share one NAT address), most recent first. */
  byAddress(address: string): SecurePhoneEntry[] {
    return this.list().filter((e) => e.address === address);
  }

  /** Live entries, most recent first. */
  list(): SecurePhoneEntry[] {
    this.prune();
    return [...this.entries.values()].sort((a, b) => b.lastSeen.getTime() - a.lastSeen.getTime());
  }

  /** Removes one device (by name or MAC) or all; returns how many went. */
  clear(deviceName?: string): number {
    this.prune();
    let n: number;
    if (deviceName === undefined) {
      n = this.entries.size;
      this.entries.clear();
    } else {
      const key = deviceName.toUpperCase();
      const name = key.startsWith('SEP') ? key : `SEP${key.replace(/[.:-]/g, '')}`;
      n = this.entries.delete(name) ? 1 : 0;
    }
    if (n > 0) this.changed();
    return n;
  }

  prune(): number {
    const now = this.now();
    let n = 0;
    for (const e of this.entries.values()) {
      if (this.expired(e, now)) {
        this.entries.delete(e.deviceName);
        n++;
      }
    }
    if (n > 0) this.changed();
    return n;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Reads the persisted file; a missing file is an empty database, a corrupt one is reported and ignored. */
  load(): number {
    if (!this.opts.file) return 0;
    let text: string;
    try {
      text = readFileSync(this.opts.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      this.opts.onError?.(new Error(`${this.opts.file}: not JSON (${(err as Error).message}); starting empty`));
      return 0;
    }
    const list = (raw as { phones?: unknown }).phones;
    if (!Array.isArray(list)) return 0;
    const now = this.now();
    for (const r of list as Record<string, unknown>[]) {
      const e = revive(r);
      if (e && !this.expired(e, now)) this.entries.set(e.deviceName, e);
    }
    return this.entries.size;
  }

  private changed(): void {
    if (!this.opts.file || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.flush();
      } catch (err) {
        this.opts.onError?.(err as Error);
      }
    }, this.opts.flushDelayMs ?? 500);
    this.timer.unref();
  }

  /** Writes the file now (atomically: temp file + rename). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.opts.file) return;
    mkdirSync(path.dirname(this.opts.file), { recursive: true });
    const tmp = `${this.opts.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: 1, phones: [...this.entries.values()] }, null, 1)}\n`, {
      mode: 0o600,
    });
    renameSync(tmp, this.opts.file);
  }
}

function revive(r: Record<string, unknown>): SecurePhoneEntry | undefined {
  const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
  const deviceName = str('deviceName');
  const mac = str('mac');
  const address = str('address');
  const originalMode = str('originalMode');
  const forcedMode = str('forcedMode');
  const firstSeen = new Date(str('firstSeen') ?? NaN);
  const lastSeen = new Date(str('lastSeen') ?? NaN);
  if (!deviceName || !mac || !address || !originalMode || !forcedMode) return undefined;
  if (!MODES.has(originalMode) || (forcedMode !== 'authenticated' && forcedMode !== 'encrypted')) return undefined;
  if (Number.isNaN(firstSeen.getTime()) || Number.isNaN(lastSeen.getTime())) return undefined;
  const protocol = str('protocol');
  return {
    deviceName,
    mac,
    address,
    port: typeof r.port === 'number' ? r.port : undefined,
    interface: str('interface'),
    firstSeen,
    lastSeen,
    originalMode: originalMode as SecurityMode,
    forcedMode,
    protocol: protocol === 'sip' || protocol === 'sccp' ? protocol : undefined,
  };
}
