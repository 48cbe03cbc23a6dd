/**
 * The CTL service: builds the appliance CTL once at start (so a broken policy or state
 * fails the start, not the first phone), keeps it for the TFTP interceptor, and offers
 * `show ctl-file` and `show crypto trustpoints`.
 */
import { Counter, Gauge } from 'prom-client';
import { certificateHash, type ParsedCtl, parseCtl } from '../../ctl';
import type { CtlSource } from '../contracts/ctl';
import type { Listening, OperatorViews, Service, ServiceContext } from '../contracts/service';
import { ClusterCtlSync } from './cluster-ctl-sync';
import { buildApplianceCtl } from './ctl-instance';

export const CTL_SERVICE = 'ctl';

export class CtlService implements Service, CtlSource {
  readonly name = CTL_SERVICE;
  private bytes: Buffer | undefined;
  private parsed: ParsedCtl | undefined;
  private readonly builds: Counter;
  private readonly records: Gauge;

  constructor(private readonly ctx: ServiceContext) {
    this.builds = new Counter({
      name: 'phone_proxy_ctl_builds_total',
      help: 'CTL files built and signed',
      registers: [ctx.metrics],
    });
    this.records = new Gauge({
      name: 'phone_proxy_ctl_records',
      help: 'Records in the CTL served to phones',
      registers: [ctx.metrics],
    });
  }

  /** The signed CTLFile.tlv built at start. */
  ctl(): Buffer {
    if (!this.bytes) throw new Error('CTL service not started');
    return this.bytes;
  }

  async start(): Promise<Listening[]> {
    const { cluster, loaded, state, logs } = this.ctx;
    // In a cluster the CTL is the union of every node's records, rebuilt when a node changes its.
    if (cluster)
      await new ClusterCtlSync(loaded, state, cluster, logs.for('events'), (b, n) => this.adopt(b, n)).start();
    else this.adopt(buildApplianceCtl(loaded, state));
    return [];
  }

  private adopt(bytes: Buffer, nodes?: string[]): void {
    this.bytes = bytes;
    this.parsed = parseCtl(this.bytes);
    this.builds.inc();
    this.records.set(this.parsed.records.length);
    this.ctx.logs.for('events').info(
      {
        records: this.parsed.records.length,
        bytes: this.bytes.length,
        signer: this.parsed.header.signerName,
        ...(nodes ? { nodes } : {}),
      },
      'CTL built',
    );
  }

  operatorViews(): OperatorViews {
    return {
      show: [
        {
          name: 'ctl-file',
          help: 'the CTL served to phones: signer and records',
          render: () => {
            const ctl = this.parsed as ParsedCtl;
            const rows = ctl.records.map((r, n) => [
              n + 1,
              r.function,
              r.subject,
              r.serial.toString('hex'),
              r.ip ?? '',
              r.dnsName ?? '',
              certificateHash(r),
            ]);
            return {
              data: {
                signer: ctl.header.signerName,
                digest: ctl.header.digest,
                timestamp: ctl.header.timestamp,
                records: ctl.records.map((r) => ({
                  function: r.function,
                  subject: r.subject,
                  serial: r.serial.toString('hex'),
                  ip: r.ip,
                  dnsName: r.dnsName,
                  sha1: certificateHash(r),
                })),
              },
              lines: [
                `Signed by ${ctl.header.signerName} (${ctl.header.digest}), ${ctl.bytes.length} bytes, ${new Date(ctl.header.timestamp * 1000).toISOString()}`,
              ],
              tables: [{ columns: ['#', 'function', 'subject', 'serial', 'ip', 'dns', 'sha1'], rows }],
            };
          },
        },
        {
          name: 'crypto trustpoints',
          help: 'trustpoints and SAST certificates in the state directory (no keys)',
          render: () => {
            const s = this.ctx.state;
            const all = [...s.trustpoints.values(), ...s.sast];
            const rows = all.map((t) => [
              t.name,
              t.cert.subject.replace(/\n/g, ','),
              t.cert.serialNumber,
              t.cert.validTo,
              t.keyPem ? 'yes' : 'no',
            ]);
            return {
              data: all.map((t) => ({
                name: t.name,
                subject: t.cert.subject,
                serial: t.cert.serialNumber,
                validTo: t.cert.validTo,
                hasKey: !!t.keyPem,
              })),
              tables: [{ columns: ['name', 'subject', 'serial', 'valid to', 'key'], rows }],
            };
          },
        },
      ],
      clear: [],
    };
  }

  async stop(): Promise<void> {}
}
