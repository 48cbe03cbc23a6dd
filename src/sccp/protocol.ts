/**
 * SCCP as an inspected protocol of the TLS proxy (phones on `listen.sccp-tls`, UCM on each
 * member's sccp-port / sccp-tls-port): builds the inspector factory with its counters registered
 * in the appliance's metrics registry. Sessions appear in the proxy's signaling-sessions view.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { MediaAllocator } from '../contracts/media';
import type { InspectorFactory } from '../contracts/signaling';
import { createSccpInspector, type SccpConnectionDeps } from './connection';

export interface SccpProtocolDeps {
  metrics: Registry;
  media: () => MediaAllocator | undefined;
  log: Logger;
  randomBytes: (n: number) => Buffer;
  securePhoneName?: SccpConnectionDeps['securePhoneName'];
  bindIdentity?: boolean;
  registered?: SccpConnectionDeps['registered'];
}

function counter(metrics: Registry, name: string, help: string, labelNames: string[] = []): Counter {
  return (
    (metrics.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help, labelNames, registers: [metrics] })
  );
}

export function sccpInspectorFactory(deps: SccpProtocolDeps): InspectorFactory {
  const messages = counter(deps.metrics, 'phone_proxy_sccp_messages_total', 'SCCP messages inspected', ['direction']);
  const rewritten = counter(deps.metrics, 'phone_proxy_sccp_rewritten_total', 'SCCP messages rewritten (media, keys)');
  const errors = counter(deps.metrics, 'phone_proxy_sccp_errors_total', 'SCCP messages or streams refused', ['reason']);
  return createSccpInspector({
    media: deps.media,
    log: deps.log,
    randomBytes: deps.randomBytes,
    ...(deps.securePhoneName ? { securePhoneName: deps.securePhoneName } : {}),
    ...(deps.bindIdentity !== undefined ? { bindIdentity: deps.bindIdentity } : {}),
    ...(deps.registered ? { registered: deps.registered } : {}),
    counters: {
      message: (direction) => messages.inc({ direction }),
      rewritten: () => rewritten.inc(),
      error: (reason) => errors.inc({ reason }),
    },
  });
}
