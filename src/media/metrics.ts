/**
 * Prometheus view of the media counters: read at scrape time from the shared array (plus the
 * totals of released sessions), so the packet path never touches prom-client.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  AUTH_FAILURES,
  LEG_FIELDS,
  OTHER_DROPS,
  REPLAY_DROPS,
  RX_BYTES,
  RX_PACKETS,
  SESSION_FIELDS,
  TX_BYTES,
  TX_PACKETS,
  UNEXPECTED_SOURCE_DROPS,
} from './counters';
import type { MediaObservable } from './records';

const LEGS = ['outside', 'inside'] as const;

/** Every counter field summed over live sessions and released ones (metrics, `show phone-proxy drops`). */
export function mediaTotals(media: MediaObservable): Float64Array {
  const sum = Float64Array.from(media.releasedTotals);
  for (const s of media.sessions()) {
    const base = s.slot * SESSION_FIELDS;
    for (let i = 0; i < SESSION_FIELDS; i++) sum[i] = (sum[i] ?? 0) + (media.counters[base + i] ?? 0);
  }
  return sum;
}

export function registerMediaMetrics(registry: Registry, media: MediaObservable): void {
  const counter = (name: string, help: string, labelNames: string[], fill: (c: Counter, t: Float64Array) => void) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill(this, mediaTotals(media));
      },
    });
  const perLeg = (field: number, extra: Record<string, string>) => (c: Counter, t: Float64Array) => {
    LEGS.forEach((leg, l) => {
      c.inc({ leg, ...extra }, t[l * LEG_FIELDS + field] ?? 0);
    });
  };
  counter(
    'phone_proxy_media_packets_total',
    'RTP/RTCP packets per leg, received (rx) or sent (tx)',
    ['leg', 'direction'],
    (c, t) => {
      perLeg(RX_PACKETS, { direction: 'rx' })(c, t);
      perLeg(TX_PACKETS, { direction: 'tx' })(c, t);
    },
  );
  counter(
    'phone_proxy_media_bytes_total',
    'RTP/RTCP bytes per leg, received (rx) or sent (tx)',
    ['leg', 'direction'],
    (c, t) => {
      perLeg(RX_BYTES, { direction: 'rx' })(c, t);
      perLeg(TX_BYTES, { direction: 'tx' })(c, t);
    },
  );
  counter('phone_proxy_media_drops_total', 'media packets dropped, by leg and reason', ['leg', 'reason'], (c, t) => {
    perLeg(AUTH_FAILURES, { reason: 'auth' })(c, t);
    perLeg(REPLAY_DROPS, { reason: 'replay' })(c, t);
    perLeg(UNEXPECTED_SOURCE_DROPS, { reason: 'unexpected_source' })(c, t);
    perLeg(OTHER_DROPS, { reason: 'other' })(c, t);
  });
  const fromMap = (name: string, help: string, label: string, map: () => ReadonlyMap<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [k, v] of map()) this.inc({ [label]: k }, v);
      },
    });
  fromMap(
    'phone_proxy_media_errors_total',
    'media control-plane errors (allocation, updates), by cause',
    'cause',
    () => media.errors,
  );
  fromMap(
    'phone_proxy_media_sessions_released_total',
    'media sessions released, by reason',
    'reason',
    () => media.releases,
  );
  new Gauge({
    name: 'phone_proxy_media_sessions',
    help: 'active media sessions',
    registers: [registry],
    collect() {
      this.set(media.sessions().length);
    },
  });
  new Gauge({
    name: 'phone_proxy_media_ports',
    help: 'RTP/RTCP port pairs per media-termination address and state',
    labelNames: ['address', 'state'],
    registers: [registry],
    collect() {
      for (const a of media.pools()) {
        const s = a.pool.stats();
        this.set({ address: a.address, state: 'in_use' }, s.inUse);
        this.set({ address: a.address, state: 'free' }, s.free);
        this.set({ address: a.address, state: 'quarantined' }, s.quarantined);
      }
    },
  });
  new Counter({
    name: 'phone_proxy_media_ports_reused_early_total',
    help: 'port pairs taken out of quarantine early because no free pair was left',
    labelNames: ['address'],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of media.pools()) this.inc({ address: a.address }, a.pool.stats().reusedEarly);
    },
  });
  new Counter({
    name: 'phone_proxy_media_worker_restarts_total',
    help: 'media worker threads restarted after dying',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(media.workerRestarts());
    },
  });
}
