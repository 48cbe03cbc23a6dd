/**
 * Per-session counters in one SharedArrayBuffer: the workers write them on the packet path
 * (plain typed-array stores, single writer per slot), the main thread reads them for views,
 * metrics and the idle timeout without asking the workers anything.
 *
 * Layout: session slot s, leg l (0 outside, 1 inside), field f lives at
 * s * SESSION_FIELDS + l * LEG_FIELDS + f. Doubles: exact up to 2^53 packets or bytes.
 */

/** Packets received on the leg (before any check). */
export const RX_PACKETS = 0;
export const RX_BYTES = 1;
/** Packets sent out of the leg, towards its peer. */
export const TX_PACKETS = 2;
export const TX_BYTES = 3;
export const AUTH_FAILURES = 4;
export const REPLAY_DROPS = 5;
export const UNEXPECTED_SOURCE_DROPS = 6;
/** Malformed, oversize, no destination yet, or a key error on the other leg. */
export const OTHER_DROPS = 7;
/** Wall clock (ms) of the last packet accepted on the leg; 0 = none yet. */
export const LAST_RX_MS = 8;
/** How many times the leg's peer address moved (symmetric RTP latch). */
export const LATCH_MOVES = 9;
/** Packets that arrived before signaling configured the legs and were held (early-packets.ts). */
export const HELD_PACKETS = 10;
export const LEG_FIELDS = 11;
export const SESSION_FIELDS = 2 * LEG_FIELDS;

export const LEG_FIELD_NAMES = [
  'rxPackets',
  'rxBytes',
  'txPackets',
  'txBytes',
  'authFailures',
  'replayDrops',
  'unexpectedSourceDrops',
  'otherDrops',
  'lastRxMs',
  'latchMoves',
  'heldPackets',
] as const;
export type LegCounterName = (typeof LEG_FIELD_NAMES)[number];
export type LegCounters = Record<LegCounterName, number>;

export function createCounterArray(slots: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(slots * SESSION_FIELDS * Float64Array.BYTES_PER_ELEMENT));
}

export function legBase(slot: number, leg: 0 | 1): number {
  return slot * SESSION_FIELDS + leg * LEG_FIELDS;
}

export function readLeg(counters: Float64Array, slot: number, leg: 0 | 1): LegCounters {
  const base = legBase(slot, leg);
  const out = {} as LegCounters;
  LEG_FIELD_NAMES.forEach((name, i) => {
    out[name] = counters[base + i] ?? 0;
  });
  return out;
}

export function clearSlot(counters: Float64Array, slot: number): void {
  counters.fill(0, slot * SESSION_FIELDS, (slot + 1) * SESSION_FIELDS);
}

/** Slot indexes of the shared array, handed out by the main thread. */
export class SlotTable {
  private readonly freeSlots: number[] = [];
  constructor(readonly size: number) {
    for (let i = size - 1; i >= 0; i--) this.freeSlots.push(i);
  }
  take(): number | undefined {
    return this.freeSlots.pop();
  }
  give(slot: number): void {
    this.freeSlots.push(slot);
  }
}
