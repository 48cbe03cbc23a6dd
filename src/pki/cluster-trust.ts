/**
 * One trust for all nodes (docs/cluster.md §3): the first node to reach an empty Redis publishes
 * its SAST key pairs, generated trustpoints (TFTP/CCM server certificates, the LDC issuer) and
 * the LDC key pair, sealed under the secret file; every other node installs that bundle into its
 * own state directory before opening it, so its CTL, signatures and TLS certificate are the
 * first node's. Installed locally, the trust survives a restart without Redis, and any node
 * re-publishes it when Redis comes back empty.
 */
import { existsSync, readFileSync } from 'node:fs';
import type pino from 'pino';
import type { LoadedPolicy } from '../config/load-policy';
import type { ClusterStore } from '../contracts/cluster';
import type { ApplianceState } from '../contracts/state';
import { ClusterTrustError } from '../errors';
import { ppx } from '../messages';
import { openState, stateLayout, writePublic, writeSecret } from './state';

export const TRUST_KEY = 'trust';

interface Pair {
  name: string;
  keyPem: string;
  certPem: string;
}

export interface TrustBundle {
  version: 1;
  /** The node that published it, and when. */
  node: string;
  at: string;
  ctlName: string;
  sast: Pair[];
  /** Generated trustpoints (enroll: self | local-ca); imported ones come from each node's policy files. */
  trustpoints: Pair[];
  ldcKeyPem?: string;
}

export function trustBundle(state: ApplianceState, loaded: LoadedPolicy, node: string): TrustBundle {
  const generated = new Set(loaded.policy.trustpoints.filter((t) => t.enroll).map((t) => t.name));
  const trustpoints: Pair[] = [];
  for (const t of state.trustpoints.values())
    if (generated.has(t.name) && t.keyPem) trustpoints.push({ name: t.name, keyPem: t.keyPem, certPem: t.certPem });
  return {
    version: 1,
    node,
    at: new Date().toISOString(),
    ctlName: loaded.policy['ctl-file'].name,
    sast: state.sast.map((s) => ({ name: s.name, keyPem: s.keyPem, certPem: s.certPem })),
    trustpoints,
    ...(state.ldcKeyPem ? { ldcKeyPem: state.ldcKeyPem } : {}),
  };
}

/** A bundle read from Redis, checked against this node's policy (throws ClusterTrustError). */
export function parseTrustBundle(text: string, loaded: LoadedPolicy): TrustBundle {
  let b: TrustBundle;
  try {
    b = JSON.parse(text) as TrustBundle;
  } catch (err) {
    throw new ClusterTrustError(`cluster trust in Redis is not JSON (${(err as Error).message})`);
  }
  if (b?.version !== 1 || !Array.isArray(b.sast) || !Array.isArray(b.trustpoints))
    throw new ClusterTrustError('cluster trust in Redis has an unknown layout');
  const ctl = loaded.policy['ctl-file'];
  if (b.ctlName !== ctl.name || b.sast.length !== ctl['sast-count'])
    throw new ClusterTrustError(
      `cluster trust from node ${b.node} has ctl-file "${b.ctlName}" with ${b.sast.length} SASTs; this policy has "${ctl.name}" with ${ctl['sast-count']}: every node needs the same ctl-file name and sast-count`,
    );
  return b;
}

/** Writes the bundle's files into the state directory; returns the files that changed. */
export function installTrustBundle(dir: string, loaded: LoadedPolicy, b: TrustBundle): string[] {
  const layout = stateLayout(dir);
  const generated = new Set(loaded.policy.trustpoints.filter((t) => t.enroll).map((t) => t.name));
  const files: [string, string, 'secret' | 'public'][] = [];
  for (const s of b.sast)
    files.push([layout.sastKey(s.name), s.keyPem, 'secret'], [layout.sastCert(s.name), s.certPem, 'public']);
  for (const t of b.trustpoints) {
    if (!generated.has(t.name)) continue;
    files.push([layout.key(t.name), t.keyPem, 'secret'], [layout.cert(t.name), t.certPem, 'public']);
  }
  if (b.ldcKeyPem && loaded.policy['tls-proxy']['ldc-issuer']) files.push([layout.ldcKey, b.ldcKeyPem, 'secret']);
  const changed: string[] = [];
  for (const [file, text, kind] of files) {
    if (existsSync(file) && readFileSync(file, 'utf8') === text) continue;
    (kind === 'secret' ? writeSecret : writePublic)(file, text);
    changed.push(file);
  }
  return changed;
}

async function readBundle(cluster: ClusterStore, loaded: LoadedPolicy): Promise<TrustBundle | undefined> {
  let plain: Buffer | undefined;
  try {
    plain = await cluster.getSecret(TRUST_KEY);
  } catch (err) {
    throw new ClusterTrustError(`cluster trust in Redis does not open: ${(err as Error).message}`);
  }
  return plain ? parseTrustBundle(plain.toString('utf8'), loaded) : undefined;
}

/** openState for a cluster node: the cluster's trust installed first, or this node's published. */
export async function openClusterState(
  dir: string,
  loaded: LoadedPolicy,
  cluster: ClusterStore,
  log: pino.Logger,
): Promise<ApplianceState> {
  const adopt = async (b: TrustBundle) => {
    const changed = installTrustBundle(dir, loaded, b);
    if (changed.length > 0) log.warn(...ppx(170011, { from: b.node, files: changed.length }));
    return openState(dir, loaded);
  };
  let state: ApplianceState;
  if (!cluster.isUp()) {
    log.warn(...ppx(170012, {}));
    state = await openState(dir, loaded);
  } else {
    const existing = await readBundle(cluster, loaded);
    if (existing) {
      state = await adopt(existing);
      // Re-sealed under this node's current key: after a key rotation (docs/cluster.md §4) the
      // old key can go once every node has started with the new one.
      cluster.set(TRUST_KEY, cluster.seal(TRUST_KEY, JSON.stringify(existing)));
    } else {
      state = await openState(dir, loaded);
      const sealed = cluster.seal(TRUST_KEY, JSON.stringify(trustBundle(state, loaded, cluster.node)));
      if (await cluster.setIfAbsent(TRUST_KEY, sealed)) log.info("published this node's trust to the cluster");
      else {
        // Another node published between our read and write: theirs is the cluster's.
        const theirs = await readBundle(cluster, loaded);
        if (theirs) state = await adopt(theirs);
      }
    }
  }
  // A Redis restarted empty gets the trust back from whichever node sees it first.
  const resync = cluster.seal(TRUST_KEY, JSON.stringify(trustBundle(state, loaded, cluster.node)));
  cluster.onResync('trust', () => {
    cluster.setIfAbsent(TRUST_KEY, resync).catch(() => undefined);
  });
  return state;
}
