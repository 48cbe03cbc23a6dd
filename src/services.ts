/**
 * The subsystems the daemon starts, in order (stopped in reverse). The CTL first: a policy
 * or state that cannot make one fails the start. Media before signaling, which allocates
 * from it; TFTP before TLS: the TLS proxy reads the secure-phones record.
 */
import type { ServiceFactory } from './control/service';
import { createMediaService } from './media/service';
import { ctlService } from './pki/service';
import { createTftpService } from './tftp/service';
import { createTlsProxyService } from './tls/service';

export const SERVICE_FACTORIES: ServiceFactory[] = [
  ctlService,
  (ctx) => createMediaService(ctx),
  (ctx) => createTftpService(ctx),
  (ctx) =>
    createTlsProxyService(ctx, { sccp: true, idleTimeoutMs: ctx.loaded.policy['tls-proxy']['idle-timeout'] * 1000 }),
];
