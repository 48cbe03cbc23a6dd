import { decodeItems, decodeTlv, encodeTlv, TlvError } from '../../ctl';

const known = new Set([1, 2, 3]);

function thrown(fn: () => unknown): TlvError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TlvError) return err;
    throw err;
  }
  throw new Error('expected a TlvError');
}

describe('TLV codec', () => {
  test('encodes tag, big-endian length and value', () => {
    expect(encodeTlv(7, Buffer.from([0xaa, 0xbb]))).toEqual(Buffer.from([7, 0, 2, 0xaa, 0xbb]));
    expect(encodeTlv(1, Buffer.alloc(0x123))).toHaveLength(3 + 0x123);
    expect(encodeTlv(1, Buffer.alloc(0x123)).subarray(0, 3)).toEqual(Buffer.from([1, 0x01, 0x23]));
  });

  test('decodes consecutive items with offsets', () => {
    const buf = Buffer.from([1, 0, 1, 9, 2, 0, 0, 3, 0, 2, 4, 5]);
    const items = decodeItems(buf, 0, buf.length, known, 'test');
    expect(items.map((i) => [i.tag, i.offset, [...i.value]])).toEqual([
      [1, 0, [9]],
      [2, 4, []],
      [3, 7, [4, 5]],
    ]);
  });

  test('a truncated item names its offset and tag', () => {
    const e = thrown(() => decodeTlv(Buffer.from([5, 0, 1, 9, 6, 0]), 4));
    expect(e.reason).toBe('TRUNCATED');
    expect(e.offset).toBe(4);
    expect(e.tag).toBe(6);
    expect(e.message).toMatch(/^offset 4, tag 6: item truncated/);
  });

  test('a length running past its container names offset and tag', () => {
    // Container of 6 bytes holding an item that claims 5 bytes of value but only 3 remain.
    const buf = Buffer.from([2, 0, 5, 1, 2, 3, 99, 99]);
    const e = thrown(() => decodeTlv(buf, 0, 6));
    expect(e.reason).toBe('OVERRUN');
    expect(e.offset).toBe(0);
    expect(e.tag).toBe(2);
    expect(e.message).toMatch(/length 5 runs past its container/);
  });

  test('an unknown tag names offset and tag', () => {
    const buf = Buffer.from([1, 0, 0, 42, 0, 0]);
    const e = thrown(() => decodeItems(buf, 0, buf.length, known, 'record'));
    expect(e.reason).toBe('UNKNOWN_TAG');
    expect(e.offset).toBe(3);
    expect(e.tag).toBe(42);
  });

  test('refuses values over 65535 bytes', () => {
    expect(() => encodeTlv(1, Buffer.alloc(0x10000))).toThrow(RangeError);
  });
});
