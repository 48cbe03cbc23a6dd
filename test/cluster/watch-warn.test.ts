/**
 * The standby's death watch polls Redis ten times a second: when those reads fail (Redis slow,
 * timing out) its warning %PPX-4-160008 is written once per 15 s, and what was held back is
 * said when the watch stops (src/log-limit.ts), not once per poll.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import type { ClusterStore } from '../../src/contracts/cluster';
import { MediaReplica } from '../../src/media/cluster-replica';

test('a failing death watch warns once, then says how many it held back', async () => {
  const lines: { msgId?: string; msg: string }[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().trim().split('\n')) lines.push(JSON.parse(l));
        cb();
      },
    }),
  );
  const store = {
    node: 'b',
    role: 'standby',
    isUp: () => true,
    set: () => undefined,
    del: () => undefined,
    subscribe: () => undefined,
    onResync: () => undefined,
    // One foreign session to watch, and every read of its heartbeat times out.
    scan: async () => [{ key: 'media:a:m1', value: 'sealed:x', ttlMs: 1000 }],
    get: async () => {
      throw new Error('Command timed out');
    },
  } as unknown as ClusterStore;
  const replica = new MediaReplica({ store, log, follow: true, heartbeatMs: 10 });
  replica.start({
    adopt: async () => 'x',
    sessions: () => [],
    release: async () => undefined,
  });
  await new Promise((r) => setTimeout(r, 600));
  replica.stop();
  const watch = lines.filter((l) => l.msgId === 'PPX-4-160008');
  expect(watch).toHaveLength(1);
  expect(watch[0]?.msg).toContain('Command timed out');
  const held = lines.filter((l) => l.msgId === 'PPX-4-100001');
  expect(held).toHaveLength(1);
  const n = Number(/^(\d+) similar messages suppressed \(watch\)$/.exec(held[0]?.msg ?? '')?.[1]);
  expect(n).toBeGreaterThan(10);
});
