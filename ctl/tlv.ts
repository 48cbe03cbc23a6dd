/**
 * The TLV primitive of CTL (.tlv) and signed (.sgn) files: `tag (1) | length (2, BE) | value`.
 * The header padding tag (13) is the one exception: a lone byte. Every decoding problem is
 * a TlvError carrying the byte offset and the tag, so `ctl show` can say where a file breaks.
 */

import { TlvError } from './errors';

/** Header padding: one byte, no length, no value. */
export const PADDING_TAG = 13;

export interface TlvItem {
  tag: number;
  /** Offset of the tag byte in the buffer. */
  offset: number;
  /** Offset of the first value byte. */
  valueOffset: number;
  value: Buffer;
  /** Offset just past the item. */
  end: number;
}

export function encodeTlv(tag: number, value: Buffer): Buffer {
  if (value.length > 0xffff) throw new RangeError(`TLV tag ${tag}: value of ${value.length} bytes exceeds 65535`);
  const out = Buffer.allocUnsafe(3 + value.length);
  out[0] = tag;
  out.writeUInt16BE(value.length, 1);
  value.copy(out, 3);
  return out;
}

export const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
export const u16 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n, 0);
  return b;
};
export const u32 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};
/** Strings are UTF-8 with a trailing NUL counted in the length. */
export const cstring = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);

/** Decodes the item at `offset`, which must end at or before `end` (its container's end). */
export function decodeTlv(buf: Buffer, offset: number, end: number = buf.length): TlvItem {
  if (offset >= end) throw new TlvError('TRUNCATED', offset, undefined, 'item expected, container ended');
  const tag = buf[offset] as number;
  if (offset + 3 > end)
    throw new TlvError(
      'TRUNCATED',
      offset,
      tag,
      `item truncated: ${end - offset} byte(s) left, need 3 for tag and length`,
    );
  const length = buf.readUInt16BE(offset + 1);
  const valueOffset = offset + 3;
  if (valueOffset + length > end) {
    throw new TlvError(
      'OVERRUN',
      offset,
      tag,
      `length ${length} runs past its container (${end - valueOffset} byte(s) left)`,
    );
  }
  return {
    tag,
    offset,
    valueOffset,
    value: buf.subarray(valueOffset, valueOffset + length),
    end: valueOffset + length,
  };
}

/** Decodes every item in [offset, end), rejecting tags outside `known`. */
export function decodeItems(
  buf: Buffer,
  offset: number,
  end: number,
  known: ReadonlySet<number>,
  where: string,
): TlvItem[] {
  const items: TlvItem[] = [];
  let at = offset;
  while (at < end) {
    const tag = buf[at] as number;
    if (!known.has(tag)) throw new TlvError('UNKNOWN_TAG', at, tag, `unknown tag in ${where}`);
    const item = decodeTlv(buf, at, end);
    items.push(item);
    at = item.end;
  }
  return items;
}

/** Value readers that name the item when its size is wrong. */
export function readFixed(item: TlvItem, size: number, name: string): Buffer {
  if (item.value.length !== size) {
    throw new TlvError('BAD_VALUE', item.offset, item.tag, `${name} must be ${size} byte(s), has ${item.value.length}`);
  }
  return item.value;
}

export function readString(item: TlvItem): string {
  const v = item.value;
  // The NUL is counted in the length; tolerate its absence rather than lose a character.
  const n = v.length > 0 && v[v.length - 1] === 0 ? v.length - 1 : v.length;
  return v.toString('utf8', 0, n);
}

/** The first item with `tag`, or a MISSING error naming the container and its offset. */
export function requireItem(items: TlvItem[], tag: number, name: string, where: string, whereOffset: number): TlvItem {
  const item = items.find((i) => i.tag === tag);
  if (!item) throw new TlvError('MISSING', whereOffset, tag, `mandatory ${name} missing from ${where}`);
  return item;
}
