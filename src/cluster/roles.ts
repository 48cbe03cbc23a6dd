/**
 * What `appliance-cluster.role` means (docs/cluster.md §2), said by `check` and `show cluster`.
 * Every role serves whatever reaches it (TFTP, TLS signaling, media: its own addresses, and
 * the shared ones keepalived moves to it) and shares trust, CTL, secure phones and LDCs alike;
 * the role says only who takes a dead node's media sessions over (src/media/cluster-replica.ts).
 */
import type { ClusterRole } from '../contracts/cluster';

export const ROLE_MEANING: Record<ClusterRole, string> = {
  active:
    'serves what reaches it and publishes its media sessions; never takes over another node’s (pair it with a standby)',
  standby:
    'serves what reaches it (the addresses keepalived moves here) and publishes its own sessions; keeps copies of the other nodes’ media sessions and takes over a dead node’s',
  'active-active':
    'serves its own calls and publishes them; takes over a dead node’s media sessions when it is the live standby or active-active node next after it in name order',
};
