/**
 * Regression guard for the hot path (docs/architecture.md): the relay's engine path, fed 200,000
 * packets each way in-process, triggers no garbage collection. The full 1,000,000-packet
 * figure comes from `npm run bench:pps`; this is the same code with a smaller count.
 */
import { measureEnginePath } from '../../bench/pps/engine-path';

test('the SRTP↔RTP engine path allocates nothing per packet (no GC over 400,000 packets)', async () => {
  const r = await measureEnginePath(200_000);
  expect(r.packets).toBe(400_000);
  expect(r.gcEvents).toBe(0);
  // Per-packet garbage of even 8 bytes would be 3.2 MB here; what remains is compiled code.
  expect(r.heapGrowthBytes).toBeLessThan(1_000_000);
}, 60_000);
