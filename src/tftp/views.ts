/**
 * Operator views: `show phone-proxy tftp` (counters per outcome, cache, signing),
 * `show phone-proxy secure-phones [DEVICE]`, `clear phone-proxy secure-phones [DEVICE]`,
 * and the Prometheus counters (read at scrape time from the service's counters).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { CLUSTER_FLAG } from '../contracts/cluster';
import type { ClearAction, DropCounters, OperatorViews, ShowView } from '../contracts/service';
import { TFTP_OUTCOME_CODES } from './outcome-codes';
import type { PhonesReplica } from './phones-replica';
import type { SecurePhoneEntry } from './secure-phones';
import { OUTCOMES, type TftpService } from './types';

/** `show|clear phone-proxy secure-phones --cluster`: every node's records, through Redis. */
export { CLUSTER_FLAG };

function needReplica(tftp: TftpService): PhonesReplica {
  if (!tftp.replica)
    throw new Error('--cluster: this appliance is not in a cluster (no appliance-cluster in its policy)');
  return tftp.replica;
}

async function clusterPhones(tftp: TftpService, args: string[], now: number) {
  let list = await needReplica(tftp).list();
  if (args[0]) {
    const want = args[0].toUpperCase().replace(/[.:-]/g, '');
    list = list.filter((p) => p.entry.deviceName === want || p.entry.mac === want);
    if (list.length === 0) throw new Error(`no secure phone ${args[0]} in the cluster`);
  }
  const rows = list.map((p) => ({
    node: p.node,
    ...phoneRow(p.entry, 0, now),
    expiresInSeconds: Math.max(0, Math.round(p.ttlMs / 1000)),
  }));
  return {
    data: rows,
    lines: [`${rows.length} in the cluster`],
    tables: [
      {
        columns: ['Node', 'IP Address', 'MAC', 'Device', 'Mode (UCM)', 'Mode (forced)', 'Registered', 'Timeout'],
        rows: rows.map((r) => [
          r.node,
          r.address,
          r.mac,
          r.device,
          r.originalMode,
          r.forcedMode,
          r.registration ? `${hms(r.registration.ageSeconds)} ago/${r.registration.transport}` : '-',
          hms(r.expiresInSeconds),
        ]),
      },
    ],
  };
}

function phoneRow(e: SecurePhoneEntry, timeoutSec: number, now: number) {
  const idle = Math.round((now - e.lastSeen.getTime()) / 1000);
  const reg = e.registration;
  return {
    device: e.deviceName,
    interface: e.interface ?? null,
    address: e.address,
    /** The port of the phone's last registration (its signaling connection); null before one. */
    port: reg?.port ?? null,
    /** The source port of its last config fetch. */
    tftpPort: e.port ?? null,
    registration: reg
      ? {
          address: reg.address,
          port: reg.port,
          protocol: reg.protocol,
          transport: reg.transport,
          at: reg.at.toISOString(),
          ageSeconds: Math.max(0, Math.round((now - reg.at.getTime()) / 1000)),
        }
      : null,
    mac: e.mac.toLowerCase().replace(/(.{4})(?=.)/g, '$1.'),
    originalMode: e.originalMode,
    forcedMode: e.forcedMode,
    protocol: e.protocol ?? null,
    firstSeen: e.firstSeen.toISOString(),
    lastSeen: e.lastSeen.toISOString(),
    idleSeconds: idle,
    expiresInSeconds: Math.max(0, timeoutSec - idle),
  };
}

/**
 * For `show phone-proxy drops`: the requests refused or failed (outcomes with a code), and the
 * packets dropped inside transfers or before the first one was sent (over the global budget).
 */
function tftpDrops(tftp: TftpService): DropCounters {
  return {
    areas() {
      const x = tftp.transfers();
      const refused = OUTCOMES.flatMap((o) => {
        const code = TFTP_OUTCOME_CODES[o];
        return code === null ? [] : [{ reason: o, code, count: tftp.counters[o] }];
      });
      return [
        {
          area: 'tftp',
          counts: [
            ...refused,
            { reason: 'malformed-packet', code: 'EPX_TFTP_PACKET', count: x.malformed },
            { reason: 'first-packet-over-budget', code: 'EPX_TFTP_BUSY', count: x.firstPacketsOverBudget },
            { reason: 'upstream-malformed-packet', code: 'EPX_TFTP_PACKET', count: x.upstream.malformed },
          ],
        },
      ];
    },
  };
}

const hms = (s: number) =>
  `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;

export function tftpViews(
  tftp: TftpService,
  /** Read per request: a live reload changes both (no upstream on a SIP edge). */
  settings: () => { upstream: { address: string; port: number } | undefined; timeoutSec: number },
  now: () => number = Date.now,
): OperatorViews {
  const show: ShowView[] = [];
  const clear: ClearAction[] = [];
  show.push({
    name: 'phone-proxy tftp',
    help: 'TFTP interceptor: listeners, upstream, requests per outcome, cache and signing',
    render() {
      const cache = tftp.cache.stats();
      const signing = tftp.signing();
      const { upstream } = settings();
      const data = {
        listeners: tftp.listeners(),
        upstream: upstream ?? null,
        outcomes: { ...tftp.counters },
        cache,
        signing,
        relay: tftp.relay(),
        transfers: tftp.transfers(),
        securePhones: tftp.securePhones.size,
      };
      const x = data.transfers;
      return {
        data,
        lines: [
          ...data.listeners.map((l) => `listening on ${l.interface} ${l.address}:${l.port}/udp`),
          upstream
            ? `upstream TFTP server ${upstream.address}:${upstream.port}`
            : 'no upstream TFTP server (SIP edge only)',
          `config cache: ${cache.entries} entries, ${cache.bytes} bytes, ${cache.hits} hits, ${cache.misses} misses`,
          `signed ${signing.count} files in ${signing.totalMs.toFixed(1)} ms`,
          `relay: at most ${data.relay.peakBufferedBytes} bytes of a file held at once`,
          `transfers: ${x.transfers} to phones, ${x.completed} completed, ${x.failed} failed (${x.unprovenTimeouts} never acknowledged), ` +
            `${x.duplicateAcks} duplicate ACKs ignored, ${x.retransmittedBlocks} blocks retransmitted, ${x.malformed} malformed packets, ` +
            `${x.firstPacketsOverBudget} first packets over budget, ${x.socketErrors} socket errors`,
        ],
        tables: [
          {
            title: 'Requests by outcome',
            columns: ['outcome', 'count'],
            rows: OUTCOMES.map((o) => [o, tftp.counters[o]]),
          },
        ],
      };
    },
  });

  show.push({
    name: 'phone-proxy secure-phones',
    help: 'phones made secure by the TFTP interceptor, with their last registration [DEVICE|MAC] [--cluster: every node]',
    render(words) {
      const t = now();
      if (words.includes(CLUSTER_FLAG))
        return clusterPhones(
          tftp,
          words.filter((w) => w !== CLUSTER_FLAG),
          t,
        );
      const args = words;
      const { timeoutSec } = settings();
      let list = tftp.securePhones.list();
      if (args[0]) {
        const want = args[0].toUpperCase().replace(/[.:-]/g, '');
        list = list.filter((e) => e.deviceName === want || e.mac === want);
        if (list.length === 0) throw new Error(`no secure phone ${args[0]}`);
      }
      const rows = list.map((e) => phoneRow(e, timeoutSec, t));
      return {
        data: rows,
        lines: [`${rows.length} in use, timeout ${hms(timeoutSec)}`],
        tables: [
          {
            columns: [
              'Interface',
              'IP Address',
              'Port',
              'MAC',
              'Device',
              'Mode (UCM)',
              'Mode (forced)',
              'Protocol',
              'Registered',
              'Timeout',
              'Idle',
            ],
            rows: rows.map((r) => [
              r.interface,
              r.address,
              r.port ?? '-',
              r.mac,
              r.device,
              r.originalMode,
              r.forcedMode,
              r.protocol,
              r.registration ? `${hms(r.registration.ageSeconds)} ago/${r.registration.transport}` : '-',
              hms(r.expiresInSeconds),
              hms(r.idleSeconds),
            ]),
          },
        ],
      };
    },
  });

  clear.push({
    name: 'phone-proxy secure-phones',
    help: 'remove secure-phone entries [DEVICE|MAC|noconfirm] (all when none given) [--cluster: on every node]',
    run(words) {
      const args = words.filter((w) => w !== CLUSTER_FLAG);
      const which = args[0] === 'noconfirm' ? undefined : args[0];
      if (words.includes(CLUSTER_FLAG))
        return needReplica(tftp)
          .clearEverywhere(which)
          .then((n) => `cleared ${n} secure-phone entr${n === 1 ? 'y' : 'ies'} cluster-wide`);
      const n = tftp.securePhones.clear(which);
      if (which && n === 0) throw new Error(`no secure phone ${which}`);
      return `cleared ${n} secure-phone entr${n === 1 ? 'y' : 'ies'}`;
    },
  });
  return { show, clear, drops: tftpDrops(tftp) };
}

export function registerTftpMetrics(registry: Registry, tftp: TftpService): void {
  new Counter({
    name: 'phone_proxy_tftp_requests_total',
    help: 'TFTP requests by outcome',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const o of OUTCOMES) this.inc({ outcome: o }, tftp.counters[o]);
    },
  });
  new Counter({
    name: 'phone_proxy_tftp_config_cache_total',
    help: 'Rewritten/signed configuration cache lookups',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      const s = tftp.cache.stats();
      this.inc({ result: 'hit' }, s.hits);
      this.inc({ result: 'miss' }, s.misses);
    },
  });
  new Counter({
    name: 'phone_proxy_tftp_signatures_total',
    help: 'Files signed by the TFTP interceptor',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(tftp.signing().count);
    },
  });
  new Counter({
    name: 'phone_proxy_tftp_transfer_events_total',
    help: 'TFTP transfer events towards phones (side="phone") and from UCM (side="ucm")',
    labelNames: ['side', 'event'],
    registers: [registry],
    collect() {
      this.reset();
      const { upstream, ...phone } = tftp.transfers();
      for (const [k, v] of Object.entries(phone)) this.inc({ side: 'phone', event: k }, v);
      for (const [k, v] of Object.entries(upstream)) this.inc({ side: 'ucm', event: k }, v);
    },
  });
  new Gauge({
    name: 'phone_proxy_secure_phones',
    help: 'Entries in the secure-phones database',
    registers: [registry],
    collect() {
      this.set(tftp.securePhones.size);
    },
  });
}
