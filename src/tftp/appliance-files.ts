/**
 * The PKI side of the interceptor: the appliance's CTL and the signing of rewritten files with
 * the key of the CTL's tftp / cucm-tftp record, with the policy's digest. The CTL is the one the
 * CTL service built at start (the same bytes `show ctl-file` describes); without that service
 * (the interceptor started alone) it is built here, once.
 */
import { signFile } from '../../ctl';
import type { CtlSource } from '../contracts/ctl';
import type { ServiceContext } from '../contracts/service';
import { buildApplianceCtl, tftpSigner } from '../pki/ctl-instance';
import type { ApplianceFiles } from './types';

export function applianceFiles(ctx: Pick<ServiceContext, 'loaded' | 'state'>, ctlService?: CtlSource): ApplianceFiles {
  const signer = tftpSigner(ctx.loaded, ctx.state);
  const digest = ctx.loaded.policy['ctl-file'].digest;
  let ctl: Buffer | undefined;
  return {
    // Asked per request: a cluster's CTL service rebuilds when another node's records change.
    ctl: () => {
      if (ctlService) return ctlService.ctl();
      ctl ??= buildApplianceCtl(ctx.loaded, ctx.state);
      return ctl;
    },
    sign: (content, fileName) => signFile(content, fileName, signer, digest),
  };
}
