/**
 * Keeps this node's CTL the cluster's (docs/cluster.md §3): publishes the node's record set at
 * start and on every return of Redis, and rebuilds from the union when any node announces a
 * change on the `ctl` channel. Redis away: the last CTL stays served.
 */
import type pino from 'pino';
import { buildCtl } from '../../ctl';
import type { LoadedPolicy } from '../config/load-policy';
import type { ClusterStore } from '../contracts/cluster';
import type { ApplianceState } from '../contracts/state';
import { ppx } from '../messages';
import { type NodeRecordSet, parseRecordSet, publishedRecords, sameRecords, unionCtl } from './cluster-ctl';
import { applianceCtlRecords } from './ctl-instance';

export const CTL_RECORDS = 'ctl-records:';
export const CTL_CHANNEL = 'ctl';
const MAX_NODES = 1000;

export class ClusterCtlSync {
  private mine: NodeRecordSet | undefined;
  private current: Buffer | undefined;
  private rebuilding = false;
  private again = false;

  constructor(
    private readonly loaded: LoadedPolicy,
    private readonly state: ApplianceState,
    private readonly cluster: ClusterStore,
    private readonly log: pino.Logger,
    /** Called with every CTL that differs from the last (the first one at start). */
    private readonly adopt: (bytes: Buffer, nodes: string[]) => void,
  ) {}

  async start(): Promise<void> {
    const records = publishedRecords(applianceCtlRecords(this.loaded, this.state));
    const sets = await this.readSets();
    const before = sets.find((s) => s.node === this.cluster.node);
    // An unchanged set keeps its time, so a restart does not re-stamp everyone's CTL.
    const at = before && sameRecords(before.records, records) ? before.at : Math.floor(Date.now() / 1000);
    this.mine = { node: this.cluster.node, at, records };
    this.publish();
    this.build(sets);
    this.cluster.subscribe(CTL_CHANNEL, (from) => {
      if (from !== this.cluster.node) this.rebuild();
    });
    this.cluster.onResync('ctl', () => {
      this.publish();
      this.rebuild();
    });
  }

  private publish(): void {
    const mine = this.mine as NodeRecordSet;
    this.cluster.set(CTL_RECORDS + mine.node, JSON.stringify(mine), {
      notify: { channel: CTL_CHANNEL, message: mine.node },
    });
  }

  private async readSets(): Promise<NodeRecordSet[]> {
    if (!this.cluster.isUp()) return [];
    const entries = await this.cluster.scan(CTL_RECORDS, MAX_NODES);
    const sets: NodeRecordSet[] = [];
    for (const e of entries) {
      const s = parseRecordSet(e.value);
      if (s && e.key === CTL_RECORDS + s.node) sets.push(s);
      else this.log.warn(...ppx(170013, { key: e.key }));
    }
    return sets;
  }

  private build(sets: NodeRecordSet[]): void {
    const mine = this.mine as NodeRecordSet;
    const all = [...sets.filter((s) => s.node !== mine.node), mine];
    const sast = applianceCtlRecords(this.loaded, this.state).filter((r) => 'function' in r && r.function === 'sast');
    const u = unionCtl(sast, all);
    const signer = this.state.sast[0];
    if (!signer) throw new Error('no SAST key in the state: cannot sign the CTL');
    const bytes = buildCtl({
      records: u.records,
      signer,
      digest: this.loaded.policy['ctl-file'].digest,
      timestamp: u.timestamp,
    });
    if (this.current?.equals(bytes)) return;
    this.current = bytes;
    this.adopt(bytes, u.nodes);
  }

  /** One rebuild at a time; announcements during one cause one more. */
  private rebuild(): void {
    if (this.rebuilding) {
      this.again = true;
      return;
    }
    this.rebuilding = true;
    this.readSets()
      .then((sets) => this.build(sets))
      .catch((err: Error) => this.log.warn(...ppx(170014, { err: err.message })))
      .finally(() => {
        this.rebuilding = false;
        if (this.again) {
          this.again = false;
          this.rebuild();
        }
      });
  }
}
