/**
 * The composition root: the services the daemon runs, built in dependency order, each handed
 * exactly the services it uses. Started in this order, stopped in reverse. The CTL first: a
 * policy or state that cannot make one fails the start. Media before signaling, which
 * allocates from it; TFTP before TLS: the TLS proxy reads the secure-phones records the TFTP
 * interceptor keeps. Capture between media and signaling: it taps both (issue 15). The CAPF
 * relay last: it uses no other service.
 */
import { createCapfRelayService } from './capf/service';
import { createCaptureService } from './capture/service';
import type { Service, ServiceContext } from './contracts/service';
import { createMediaService } from './media/service';
import { CtlService } from './pki/service';
import { createTftpService } from './tftp/service';
import { createTlsProxyService, tlsProxySettings } from './tls/service';

export function buildServices(ctx: ServiceContext): Service[] {
  const ctl = new CtlService(ctx);
  const mt = ctx.loaded.policy['media-termination'];
  const media = createMediaService(ctx, {
    maxSessionsPerPhone: mt['max-sessions-per-phone'],
    maxSessionsPerConnection: mt['max-sessions-per-connection'],
    maxSessions: mt['max-sessions'],
  });
  const capture = createCaptureService(ctx, { media });
  const tftp = createTftpService(ctx, { ctl });
  const tls = createTlsProxyService(ctx, {
    media,
    phones: tftp.securePhones,
    capture,
    sccp: true,
    ...tlsProxySettings(ctx.loaded.policy['tls-proxy']),
  });
  // The CAPF relay depends on nothing: bytes piped to UCM's CAPF (docs/capf.md).
  const capf = createCapfRelayService(ctx);
  return [ctl, media, capture, tftp, tls, capf];
}
