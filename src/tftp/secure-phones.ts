/**
 * The secure-phones database: every phone whose configuration the interceptor rewrote, with the
 * security mode UCM gave it (the TLS proxy chooses the upstream leg from `originalMode`) and the
 * mode the appliance forced. Entries expire `secure-phones-timeout` seconds after the last config
 * fetch or registration (the TLS proxy reports SIP REGISTERs and SCCP registrations/KeepAlives,
 * so a registered phone keeps its mode however long ago it booted).
 * Kept in memory, persisted as `secure-phones.json` in the state directory so a restart keeps it.
 * Writes go to a temp file renamed over the database, the previous version kept as `.bak`; a
 * database that does not parse is renamed aside (`.corrupt-<ISO time>`, for the operator) and
 * the `.bak` copy is used instead, so one bad write cannot empty the table the TLS proxy uses.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PhoneRegistration } from '../contracts/phones';

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
  /** The phone's last registration through the appliance; `port` above is its TFTP source port. */
  registration?: PhoneRegistration & { at: Date };
}

export type SecurePhoneRecord = Omit<SecurePhoneEntry, 'firstSeen' | 'lastSeen' | 'registration'>;

export interface SecurePhonesOptions {
  /** Seconds an entry lives after its last config fetch. */
  timeoutSec: number;
  /** Where to persist (state dir/secure-phones.json); in memory only when absent. */
  file?: string;
  now?: () => number;
  /** Delay before a change is written, so a boot storm writes the file once, not per phone. */
  flushDelayMs?: number;
  onError?: (err: Error) => void;
  /**
   * A record made or refreshed here (a config fetch; a registration as often as the file is
   * rewritten): the cluster replica publishes it (issue 14).
   */
  onChange?: (entry: SecurePhoneEntry) => void;
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
      // A config fetch (a phone rebooting) does not erase where it is registered.
      ...(old?.registration && !this.expired(old) ? { registration: old.registration } : {}),
    };
    this.entries.set(rec.deviceName, entry);
    this.changed();
    this.opts.onChange?.(entry);
    return entry;
  }

  /**
   * The phone registered: its entry lives on from now (expiry counts from the last fetch or
   * registration). No entry, or an expired one: false, nothing created (only a config fetch
   * knows the phone's mode on UCM).
   */
  touch(deviceName: string, reg: PhoneRegistration): boolean {
    const e = this.get(deviceName);
    if (!e) return false;
    const now = new Date(this.now());
    const before = e.registration;
    const moved =
      !before || before.address !== reg.address || before.port !== reg.port || before.transport !== reg.transport;
    const stale = now.getTime() - e.lastSeen.getTime() > (this.opts.timeoutSec * 1000) / 10;
    e.lastSeen = now;
    e.registration = {
      address: reg.address,
      port: reg.port,
      protocol: reg.protocol,
      transport: reg.transport,
      at: now,
    };
    // SCCP KeepAlives come every 30 s per phone: the file is rewritten when the registration
    // moved or the saved expiry drifted by a tenth of the timeout, enough for a restart to keep it.
    if (moved || stale) {
      this.changed();
      this.opts.onChange?.(e);
    }
    return true;
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
      n = this.entries.delete(deviceNameOf(deviceName)) ? 1 : 0;
    }
    if (n > 0) this.changed();
    return n;
  }

  /**
   * A record another node made or refreshed (the cluster replica): kept like a local one, not
   * reported back through onChange. An older copy than the one held is ignored.
   */
  adopt(entry: SecurePhoneEntry): boolean {
    const held = this.entries.get(entry.deviceName);
    if ((held && held.lastSeen.getTime() > entry.lastSeen.getTime()) || this.expired(entry)) return false;
    this.entries.set(entry.deviceName, entry);
    this.changed();
    return true;
  }

  /** Another node's operator cleared a record (or all): removed here without reporting it back. */
  forget(deviceName: string | undefined): number {
    const n = deviceName === undefined ? this.entries.size : this.entries.has(deviceNameOf(deviceName)) ? 1 : 0;
    if (deviceName === undefined) this.entries.clear();
    else this.entries.delete(deviceNameOf(deviceName));
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

  /**
   * Reads the persisted file. Missing: an empty database. Corrupt: renamed aside and reported,
   * then the last good copy (`.bak`) is read instead.
   */
  load(): number {
    const file = this.opts.file;
    if (!file) return 0;
    const main = this.read(file);
    if (main !== 'corrupt') return main === 'missing' ? this.fromBackup(file, false) : main;
    const aside = `${file}.corrupt-${new Date(this.now()).toISOString()}`;
    try {
      renameSync(file, aside);
      this.opts.onError?.(new Error(`${file}: corrupt, renamed to ${aside}`));
    } catch (err) {
      this.opts.onError?.(new Error(`${file}: corrupt and could not be renamed aside: ${(err as Error).message}`));
    }
    return this.fromBackup(file, true);
  }

  private fromBackup(file: string, afterCorrupt: boolean): number {
    const bak = `${file}.bak`;
    if (!existsSync(bak)) {
      if (afterCorrupt) this.opts.onError?.(new Error(`${file}: no last good copy (${bak}); starting empty`));
      return 0;
    }
    const r = this.read(bak);
    if (typeof r === 'number') {
      this.opts.onError?.(new Error(`${file}: using the last good copy ${bak} (${r} phones)`));
      return r;
    }
    this.opts.onError?.(new Error(`${file}: last good copy ${bak} unreadable too; starting empty`));
    return 0;
  }

  /** The entries of one file into the table, or what is wrong with it. */
  private read(file: string): number | 'missing' | 'corrupt' {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      this.opts.onError?.(new Error(`${file}: not JSON (${(err as Error).message})`));
      return 'corrupt';
    }
    const list = (raw as { phones?: unknown } | null)?.phones;
    if (!Array.isArray(list)) {
      this.opts.onError?.(new Error(`${file}: no "phones" list`));
      return 'corrupt';
    }
    const now = this.now();
    this.entries.clear();
    for (const r of list as Record<string, unknown>[]) {
      const e = r && typeof r === 'object' ? revive(r) : undefined;
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

  /** Writes the file now (atomically: temp file + rename), keeping the previous version as `.bak`. */
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
    // The current file was written by this code or loaded without error: the last good copy.
    if (existsSync(this.opts.file)) copyFileSync(this.opts.file, `${this.opts.file}.bak`);
    renameSync(tmp, this.opts.file);
  }
}

/** A device name or MAC (any separators) as the table's key: SEP + 12 hex digits, upper case. */
export function deviceNameOf(nameOrMac: string): string {
  const key = nameOrMac.toUpperCase();
  return key.startsWith('SEP') ? key : `SEP${key.replace(/[.:-]/g, '')}`;
}

/** An entry as JSON gives it back (dates as ISO strings), checked; undefined when it is not one. */
export function reviveEntry(r: unknown): SecurePhoneEntry | undefined {
  return r && typeof r === 'object' ? revive(r as Record<string, unknown>) : undefined;
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
  const registration = reviveRegistration(r.registration);
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
    ...(registration ? { registration } : {}),
  };
}

function reviveRegistration(v: unknown): SecurePhoneEntry['registration'] {
  if (!v || typeof v !== 'object') return undefined;
  const r = v as Record<string, unknown>;
  const at = new Date(typeof r.at === 'string' ? r.at : NaN);
  if (typeof r.address !== 'string' || typeof r.port !== 'number' || Number.isNaN(at.getTime())) return undefined;
  if ((r.protocol !== 'sip' && r.protocol !== 'sccp') || (r.transport !== 'tls' && r.transport !== 'tcp'))
    return undefined;
  return { address: r.address, port: r.port, protocol: r.protocol, transport: r.transport, at };
}
