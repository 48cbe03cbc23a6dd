import { Outbox } from '../../src/cluster/outbox';

const set = (key: string, value: string, ttlMs?: number) => ({ op: 'set' as const, key, value, ttlMs });

test('writes to one key coalesce: the newest value, once, at the back of the queue', () => {
  const o = new Outbox(10);
  o.put('a', set('a', '1'));
  o.put('b', set('b', '1'));
  o.put('a', set('a', '2'));
  expect(o.size).toBe(2);
  expect(o.coalesced).toBe(1);
  expect(o.take(10)).toEqual([set('b', '1'), set('a', '2')]);
  expect(o.size).toBe(0);
});

test('an expiry refresh on a pending value writes the value with the new lifetime', () => {
  const o = new Outbox(10);
  o.put('a', set('a', 'v', 1000));
  o.put('a', { op: 'expire', key: 'a', ttlMs: 5000 });
  expect(o.take(1)).toEqual([{ op: 'set', key: 'a', value: 'v', ttlMs: 5000 }]);
  o.put('a', { op: 'expire', key: 'a', ttlMs: 7000 });
  expect(o.take(1)).toEqual([{ op: 'expire', key: 'a', ttlMs: 7000 }]);
  o.put('a', { op: 'del', key: 'a' });
  o.put('a', { op: 'expire', key: 'a', ttlMs: 7000 });
  expect(o.take(1)).toEqual([{ op: 'del', key: 'a' }]);
});

test('full, the oldest entry goes and is counted; the size never passes the bound', () => {
  const o = new Outbox(3);
  for (let n = 0; n < 10; n++) o.put(`k${n}`, set(`k${n}`, 'v'));
  expect(o.size).toBe(3);
  expect(o.dropped).toBe(7);
  expect(o.take(2).map((op) => (op.op === 'set' ? op.key : ''))).toEqual(['k7', 'k8']);
  expect(o.take(5)).toHaveLength(1);
  expect(() => new Outbox(0)).toThrow(/positive integer/);
});
