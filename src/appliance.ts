/**
 * The composition root: the services the daemon runs, built in dependency order, each handed
 * exactly the services it uses. Started in this order, stopped in reverse. The CTL first: a
 * policy or state that cannot make one fails the start. Media before signaling, which
 * allocates from it; TFTP before TLS: the TLS proxy reads the secure-phones records the TFTP
 * interceptor keeps.
 */
import type { Service, ServiceContext } from './contracts/service';
import { createMediaService } from './media/service';
import { CtlService } from './pki/service';
import { createTftpService } from './tftp/service';
import { createTlsProxyService } from './tls/service';

export function buildServices(ctx: ServiceContext): Service[] {
  const ctl = new CtlService(ctx);
  const media = createMediaService(ctx);
  const tftp = createTftpService(ctx, { ctl });
  const tls = createTlsProxyService(ctx, {
    media,
    phones: tftp.securePhones,
    sccp: true,
    idleTimeoutMs: ctx.loaded.policy['tls-proxy']['idle-timeout'] * 1000,
  });
  return [ctl, media, tftp, tls];
}
