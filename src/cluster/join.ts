/**
 * Joining the cluster at start (docs/cluster.md §5): connect within a bound; unreachable, the
 * node refuses to start, unless the policy lets it start alone, which it then says loudly.
 */
import type pino from 'pino';
import type { Registry } from 'prom-client';
import type { LoadedPolicy } from '../config/load-policy';
import { ClusterUnreachableError } from '../errors';
import { ppx } from '../messages';
import { createRedisLink, type RedisLink } from './redis-link';

export const JOIN_TIMEOUT_MS = 5000;

export async function joinCluster(
  loaded: LoadedPolicy,
  log: pino.Logger,
  metrics: Registry,
  timeoutMs = JOIN_TIMEOUT_MS,
): Promise<RedisLink> {
  const c = loaded.policy['appliance-cluster'];
  if (!c) throw new Error('joinCluster: the policy has no appliance-cluster');
  const link = createRedisLink(loaded, log, metrics);
  const s = link.status();
  if (await link.start(timeoutMs)) {
    log.info({ node: s.node, role: s.role, redis: s.redis, secretKey: s.secretKey }, 'joined the appliance cluster');
    return link;
  }
  if (!c['start-without-redis']) {
    await link.stop();
    throw new ClusterUnreachableError(
      `Redis ${s.redis} unreachable after ${timeoutMs} ms (${link.failureCause()}): not starting (appliance-cluster.start-without-redis: true starts alone)`,
    );
  }
  log.error(...ppx(170001, { node: s.node, redis: s.redis, cause: link.failureCause() }));
  return link;
}
