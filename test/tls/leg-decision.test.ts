import { decideLegs } from '../../src/contracts/leg-decision';

// One test per cell of the table (ASA phone proxy guide, "Phone Proxy Functionality"; docs/references.md).
describe('upstream leg decision: cluster mode x phone mode', () => {
  it.each([
    ['nonsecure', 'nonsecure', 'tcp', 'rtp'],
    ['nonsecure', 'authenticated', 'tcp', 'rtp'],
    ['nonsecure', 'encrypted', 'tcp', 'rtp'],
    ['mixed', 'nonsecure', 'tcp', 'rtp'],
    ['mixed', 'authenticated', 'tls', 'rtp'],
    ['mixed', 'encrypted', 'tls', 'srtp'],
  ] as const)('%s cluster, %s phone → %s upstream, SRTP↔%s', (cluster, phone, upstream, inside) => {
    expect(decideLegs(cluster, phone)).toEqual({
      upstream,
      outsideMedia: 'srtp',
      insideMedia: inside,
      phoneMode: phone,
      defaulted: false,
    });
  });

  it('an unknown phone is nonsecure on a nonsecure cluster', () => {
    expect(decideLegs('nonsecure', undefined)).toMatchObject({ upstream: 'tcp', insideMedia: 'rtp', defaulted: true });
  });

  it('an unknown phone gets TLS (authenticated) on a mixed cluster', () => {
    expect(decideLegs('mixed', undefined)).toMatchObject({
      upstream: 'tls',
      insideMedia: 'rtp',
      phoneMode: 'authenticated',
      defaulted: true,
    });
  });
});
