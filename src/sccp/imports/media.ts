/** SCCP's dependency edge to media termination: the contract in src/media/api.ts. */
import type { LegEndpoint, MediaSessionInfo, SrtpProfile, UpdateLegConfig } from '../../media/api';

export type { MediaAllocator } from '../../media/api';
export type MediaAllocation = MediaSessionInfo;
export type MediaLegAddress = LegEndpoint;
export type MediaLegUpdate = UpdateLegConfig;
export type SrtpProfileName = SrtpProfile;
