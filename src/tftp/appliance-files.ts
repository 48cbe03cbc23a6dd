/**
 * The PKI side of the interceptor: the appliance's CTL (built once per start, from the policy's
 * ctl-file and the state directory) and the signing of rewritten files with the key of the CTL's
 * tftp / cucm-tftp record, with the policy's digest.
 */
import { signFile } from '../../ctl';
import type { AppContext } from '../control/service';
import { buildApplianceCtl, tftpSigner } from '../pki/ctl-instance';
import type { ApplianceFiles } from './service';

export function applianceFiles(ctx: Pick<AppContext, 'loaded' | 'state'>): ApplianceFiles {
  const signer = tftpSigner(ctx.loaded, ctx.state);
  const digest = ctx.loaded.policy['ctl-file'].digest;
  let ctl: Buffer | undefined;
  return {
    ctl: () => {
      ctl ??= buildApplianceCtl(ctx.loaded, ctx.state);
      return ctl;
    },
    sign: (content, fileName) => signFile(content, fileName, signer, digest),
  };
}
