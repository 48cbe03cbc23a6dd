/**
 * SCCP's dependency edge to media termination. The fixed API (allocate / updateLeg / release)
 * is declared structurally by SIP inspection; SCCP uses the very same contract, so it is
 * re-exported here (one place to switch when src/media/service.ts exports it).
 */
export type {
  MediaAllocation,
  MediaAllocator,
  MediaLegAddress,
  MediaLegUpdate,
  SrtpProfileName,
} from '../../sip/media-port';
