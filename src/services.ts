/**
 * The subsystems the daemon starts, in order (stopped in reverse). Media first: signaling
 * allocates from it; TFTP before TLS: the TLS proxy reads the secure-phones record.
 */
import type { ServiceFactory } from './control/service';

export const SERVICE_FACTORIES: ServiceFactory[] = [];
