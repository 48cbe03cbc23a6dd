/**
 * The appliance's own CTL, from the policy's ctl-file instance and the state directory:
 * SAST records first, then one record per configured function and address (remote phones
 * may reach the appliance on several outside addresses), then records carried over from an
 * imported cluster CTL. Signed by SAST 0 with the policy's digest.
 */
import { buildCtl, type CtlRecordInput } from '../../ctl';
import type { LoadedPolicy } from '../config/load-policy';
import type { ApplianceState, Credential } from '../contracts/state';
import { StateError } from '../errors';
import { checkSigningKey, readImportedCtl } from './state';

export function applianceCtlRecords(loaded: LoadedPolicy, state: ApplianceState): CtlRecordInput[] {
  const ctl = loaded.policy['ctl-file'];
  const records: CtlRecordInput[] = state.sast.map((s) => ({ function: 'sast', certificate: s.certPem }));
  for (const r of ctl.records) {
    const tp = state.trustpoints.get(r.trustpoint);
    if (!tp) throw new StateError(`ctl-file record ${r.function}: trustpoint "${r.trustpoint}" is not in the state`);
    const addresses = r.address === undefined ? [undefined] : Array.isArray(r.address) ? r.address : [r.address];
    for (const ip of addresses)
      records.push({ function: r.function, certificate: tp.certPem, ip, dnsName: r['domain-name'] });
  }
  const imported = readImportedCtl(loaded);
  if (imported) {
    for (const rec of imported.ctl.records) {
      if ((imported.carry as string[]).includes(rec.function)) records.push({ carry: rec });
    }
  }
  return records;
}

export function buildApplianceCtl(
  loaded: LoadedPolicy,
  state: ApplianceState,
  timestamp = Math.floor(Date.now() / 1000),
): Buffer {
  const signer = state.sast[0];
  if (!signer) throw new StateError('no SAST key in the state: cannot sign the CTL');
  return buildCtl({
    records: applianceCtlRecords(loaded, state),
    signer,
    digest: loaded.policy['ctl-file'].digest,
    timestamp,
  });
}

/** The credential configuration files are signed with: the policy's tftp (or cucm-tftp) record. */
export function tftpSigner(loaded: LoadedPolicy, state: ApplianceState): Credential {
  const records = loaded.policy['ctl-file'].records;
  const record = records.find((r) => r.function === 'tftp') ?? records.find((r) => r.function === 'cucm-tftp');
  if (!record)
    throw new StateError('ctl-file has no tftp or cucm-tftp record: nothing to sign configuration files with');
  const tp = state.trustpoints.get(record.trustpoint);
  if (!tp?.keyPem) {
    throw new StateError(
      `trustpoint "${record.trustpoint}" (ctl-file ${record.function} record) has no private key to sign with`,
    );
  }
  checkSigningKey(tp.name, `ctl-file ${record.function} record`, tp.cert);
  return { name: tp.name, certPem: tp.certPem, keyPem: tp.keyPem, cert: tp.cert };
}
