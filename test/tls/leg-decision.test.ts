import {
  type ClusterMode,
  decideLegs,
  type LegDecision,
  type PhoneSecurityMode,
} from '../../src/contracts/leg-decision';

// One test per cell of the table (ASA phone proxy guide, "Phone Proxy Functionality" and "Cisco
// IP Communicator Prerequisites"; docs/references.md): cluster mode × the phone's mode on UCM
// (undefined: no secure-phones record) × the mode the appliance holds the phone in.
type Cell = [
  ClusterMode,
  PhoneSecurityMode | undefined,
  PhoneSecurityMode,
  Pick<LegDecision, 'phoneSignaling' | 'outsideMedia' | 'upstream' | 'insideMedia'>,
];

const enc = { phoneSignaling: 'tls', outsideMedia: 'srtp' } as const;
const auth = { phoneSignaling: 'tls', outsideMedia: 'rtp' } as const;
const plain = { phoneSignaling: 'tcp', outsideMedia: 'rtp' } as const;
const tcpRtp = { upstream: 'tcp', insideMedia: 'rtp' } as const;
const tlsRtp = { upstream: 'tls', insideMedia: 'rtp' } as const;
const tlsSrtp = { upstream: 'tls', insideMedia: 'srtp' } as const;

const CELLS: Cell[] = [
  // Encrypted phone (the appliance's default): TLS + SRTP toward it.
  ['nonsecure', 'nonsecure', 'encrypted', { ...enc, ...tcpRtp }],
  ['nonsecure', 'authenticated', 'encrypted', { ...enc, ...tcpRtp }],
  ['nonsecure', 'encrypted', 'encrypted', { ...enc, ...tcpRtp }],
  ['nonsecure', undefined, 'encrypted', { ...enc, ...tcpRtp }],
  ['mixed', 'nonsecure', 'encrypted', { ...enc, ...tcpRtp }],
  ['mixed', 'authenticated', 'encrypted', { ...enc, ...tlsRtp }],
  ['mixed', 'encrypted', 'encrypted', { ...enc, ...tlsSrtp }],
  ['mixed', undefined, 'encrypted', { ...enc, ...tlsRtp }],
  // Authenticated phone (CIPC under cipc security-mode authenticated): TLS, RTP toward it.
  ['nonsecure', 'nonsecure', 'authenticated', { ...auth, ...tcpRtp }],
  ['nonsecure', 'authenticated', 'authenticated', { ...auth, ...tcpRtp }],
  ['nonsecure', 'encrypted', 'authenticated', { ...auth, ...tcpRtp }],
  ['nonsecure', undefined, 'authenticated', { ...auth, ...tcpRtp }],
  ['mixed', 'nonsecure', 'authenticated', { ...auth, ...tcpRtp }],
  ['mixed', 'authenticated', 'authenticated', { ...auth, ...tlsRtp }],
  // UCM expects SRTP from this device: the appliance terminates it, the phone keeps RTP.
  ['mixed', 'encrypted', 'authenticated', { ...auth, ...tlsSrtp }],
  ['mixed', undefined, 'authenticated', { ...auth, ...tlsRtp }],
  // Nonsecure phone (a nonsecure listener: LSC provisioning, CIPC before its LSC): TCP + RTP both sides.
  ['nonsecure', 'nonsecure', 'nonsecure', { ...plain, ...tcpRtp }],
  ['nonsecure', 'authenticated', 'nonsecure', { ...plain, ...tcpRtp }],
  ['nonsecure', 'encrypted', 'nonsecure', { ...plain, ...tcpRtp }],
  ['nonsecure', undefined, 'nonsecure', { ...plain, ...tcpRtp }],
  ['mixed', 'nonsecure', 'nonsecure', { ...plain, ...tcpRtp }],
  ['mixed', 'authenticated', 'nonsecure', { ...plain, ...tcpRtp }],
  ['mixed', 'encrypted', 'nonsecure', { ...plain, ...tcpRtp }],
  ['mixed', undefined, 'nonsecure', { ...plain, ...tcpRtp }],
];

describe('leg decision: cluster mode × mode on UCM × forced phone mode', () => {
  it('has every cell once', () => {
    const keys = new Set(CELLS.map(([c, u, f]) => `${c}/${u ?? '-'}/${f}`));
    expect(keys.size).toBe(2 * 4 * 3);
  });

  it.each(CELLS)('%s cluster, %s on UCM, forced %s', (cluster, ucm, forced, want) => {
    const defaulted = ucm === undefined;
    const phoneMode = ucm ?? (cluster === 'mixed' ? 'authenticated' : 'nonsecure');
    expect(decideLegs(cluster, ucm, forced)).toEqual({ ...want, phoneMode, forcedMode: forced, defaulted });
  });

  it('forces encrypted when the caller does not say (a phone on a TLS listener without a record)', () => {
    expect(decideLegs('mixed', 'encrypted')).toEqual(decideLegs('mixed', 'encrypted', 'encrypted'));
    expect(decideLegs('nonsecure', undefined).outsideMedia).toBe('srtp');
  });
});
