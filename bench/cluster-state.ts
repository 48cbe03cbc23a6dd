/**
 * bench:cluster-state — what sharing the secure-phones database through Redis costs (issue 14,
 * docs/cluster.md §6): Redis commands per config fetch and per registration (counted by the
 * link and, independently, by redis-server's INFO commandstats), CPU per record on the fetch
 * path with the cluster replica against the same database alone (baseline, same run), and how
 * fast the outbox drains into a real redis-server. Last stdout line: one JSON object.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink } from '../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../src/cluster/secret-box';
import { PhonesReplica } from '../src/tftp/phones-replica';
import { type SecurePhoneRecord, SecurePhones } from '../src/tftp/secure-phones';
import { startRedisServer } from '../test/support/redis-server';

const PHONES = Number(process.env.CLUSTER_BENCH_PHONES ?? 20_000);
const TIMEOUT_SEC = 3600;

const phone = (n: number): SecurePhoneRecord => {
  const mac = n.toString(16).toUpperCase().padStart(12, '0');
  return {
    deviceName: `SEP${mac}`,
    mac,
    address: `198.51.100.${n % 250}`,
    port: 50000 + (n % 1000),
    interface: 'outside',
    originalMode: 'encrypted',
    forcedMode: 'encrypted',
    protocol: 'sip',
  };
};

async function redisCalls(cli: (...a: string[]) => Promise<string>): Promise<number> {
  const text = await cli('INFO', 'commandstats');
  let total = 0;
  for (const m of text.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm))
    if (!['info', 'config', 'client', 'command', 'hello'].includes(m[1] as string)) total += Number(m[2]);
  return total;
}

const cpuUs = (f: () => void) => {
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return d.user + d.system;
};

async function until(f: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out (${String(await f())})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const log = pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));
  const metrics = new Registry();
  const link = new RedisLink({
    node: 'bench',
    role: 'active-active',
    connect: { url: redis.url(0), options: {}, describe: 'bench' },
    secrets: new SecretBox(parseSecretKeys('ab'.repeat(32))),
    log,
    metrics,
  });
  if (!(await link.start(5000))) throw new Error('redis-server not reachable');
  const sent = async () =>
    (await metrics.getSingleMetric('phone_proxy_cluster_redis_commands_total')?.get())?.values[0]?.value ?? 0;

  // Baseline: the database alone, in memory (the file write is batched off this path either way).
  const alone = new SecurePhones({ timeoutSec: TIMEOUT_SEC });
  let replica: PhonesReplica | undefined;
  const shared = new SecurePhones({ timeoutSec: TIMEOUT_SEC, onChange: (e) => replica?.publish(e) });
  replica = new PhonesReplica(
    link,
    () => shared,
    () => TIMEOUT_SEC,
    log,
  );
  await replica.start();

  const records = Array.from({ length: PHONES }, (_, n) => phone(n));
  const aloneUs = cpuUs(() => {
    for (const r of records) alone.record(r);
  });
  const calls0 = await redisCalls(redis.cli);
  const sent0 = await sent();
  const t0 = performance.now();
  // Fetches arrive over time, not all in one tick: 200 per turn of the event loop (a boot storm;
  // 20 000 in one tick would overflow the 10 000-entry outbox, counted as dropped).
  let sharedUs = 0;
  for (let n = 0; n < records.length; n += 200) {
    sharedUs += cpuUs(() => {
      for (const r of records.slice(n, n + 200)) shared.record(r);
    });
    await new Promise((r) => setImmediate(r));
  }
  await until(() => link.status().outbox === 0, 60_000);
  await until(async () => (await redisCalls(redis.cli)) - calls0 >= PHONES * 2, 60_000);
  const drainMs = performance.now() - t0;
  const perFetch = ((await sent()) - sent0) / PHONES;
  const serverPerFetch = ((await redisCalls(redis.cli)) - calls0) / PHONES;

  // Registrations: one that moved the phone's registration is written; a KeepAlive within the
  // refresh interval (a tenth of the timeout) is not.
  const sent1 = await sent();
  for (const r of records.slice(0, 1000))
    shared.touch(r.deviceName, { address: r.address, port: 5061, protocol: 'sip', transport: 'tls' });
  await until(() => link.status().outbox === 0, 60_000);
  const sent2 = await sent();
  for (const r of records.slice(0, 1000))
    shared.touch(r.deviceName, { address: r.address, port: 5061, protocol: 'sip', transport: 'tls' });
  await until(() => link.status().outbox === 0, 60_000);
  const perMovedRegistration = (sent2 - sent1) / 1000;
  const perKeepAlive = ((await sent()) - sent2) / 1000;

  await link.stop();
  await redis.stop();
  const round = (x: number) => Math.round(x * 100) / 100;
  const result = {
    phones: PHONES,
    redis_commands_per_config_fetch: round(perFetch),
    redis_server_calls_per_config_fetch: round(serverPerFetch),
    redis_commands_per_registration_moved: round(perMovedRegistration),
    redis_commands_per_keepalive: round(perKeepAlive),
    record_cpu_us_alone: round(aloneUs / PHONES),
    record_cpu_us_cluster: round(sharedUs / PHONES),
    record_cpu_ratio: round(sharedUs / aloneUs),
    drain_records_per_s: Math.round(PHONES / (drainMs / 1000)),
    outbox_dropped: link.status().dropped,
  };
  console.log(
    `${PHONES} config fetches: ${result.redis_commands_per_config_fetch} Redis commands each (redis-server counted ${result.redis_server_calls_per_config_fetch}); registration that moved: ${result.redis_commands_per_registration_moved}; KeepAlive within the interval: ${result.redis_commands_per_keepalive}`,
  );
  console.log(
    `record(): ${result.record_cpu_us_cluster} µs CPU with the replica vs ${result.record_cpu_us_alone} µs alone (${result.record_cpu_ratio}×); outbox drained at ${result.drain_records_per_s} records/s`,
  );
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
