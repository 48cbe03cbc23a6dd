/** SCCP's dependency edge to the TLS proxy: the one decision table (cluster mode × phone mode). */

export type { ClusterMode, LegDecision, MediaMode, PhoneSecurityMode } from '../../tls/leg-decision';
export { decideLegs } from '../../tls/leg-decision';
