/**
 * SIP inspection's view of media termination: the contract in src/media/api.ts under the names
 * the inspector uses (one import edge, so the inspector never reaches into the media service).
 */
import type { LegEndpoint, MediaSessionInfo, SrtpProfile, UpdateLegConfig } from '../media/api';

export type { MediaAllocator } from '../media/api';
export type SrtpProfileName = SrtpProfile;
export type MediaLegAddress = LegEndpoint;
export type MediaAllocation = MediaSessionInfo;
export type MediaLegUpdate = UpdateLegConfig;
