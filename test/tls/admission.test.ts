/** Admission bookkeeping (src/tls/admission.ts): each limit refuses at its edge and slots come back. */
import { Admission, type AdmissionTicket, isRefusal } from '../../src/tls/admission';

const limits = { maxConnections: 5, maxPerSource: 3, maxPendingPerSource: 2, maxPerDevice: 2 };

function ticket(a: Admission, source: string): AdmissionTicket {
  const t = a.admit(source);
  if (isRefusal(t)) throw new Error(`refused: ${t}`);
  return t;
}

describe('Admission', () => {
  it('refuses a source at its pending limit until a handshake finishes', () => {
    const a = new Admission(limits);
    const t1 = ticket(a, '10.0.0.1');
    ticket(a, '10.0.0.1');
    expect(a.admit('10.0.0.1')).toBe('pending-limit');
    expect(a.pending).toBe(2);
    t1.handshakeDone();
    t1.handshakeDone(); // idempotent
    expect(a.pending).toBe(1);
    ticket(a, '10.0.0.1');
    expect(a.fromSource('10.0.0.1')).toBe(3);
    // Three open (one pending slot free): the per-source limit is what refuses now.
    t1.release();
    expect(a.fromSource('10.0.0.1')).toBe(2);
  });

  it('refuses a source at its limit of open connections, others still admitted', () => {
    const a = new Admission(limits);
    for (let i = 0; i < 3; i++) ticket(a, 's').handshakeDone();
    expect(a.admit('s')).toBe('source-limit');
    expect(isRefusal(a.admit('other'))).toBe(false);
  });

  it('refuses everyone at the global limit, and admits again once one closes', () => {
    const a = new Admission(limits);
    const held = ['a', 'b', 'c', 'd', 'e'].map((s) => ticket(a, s));
    expect(a.admit('f')).toBe('global-limit');
    expect(a.connections).toBe(5);
    held[0]?.release();
    held[0]?.release(); // idempotent
    expect(a.connections).toBe(4);
    expect(isRefusal(a.admit('f'))).toBe(false);
  });

  it('caps connections per device identity; a released ticket returns its device slot', () => {
    const a = new Admission(limits);
    const [t1, t2, t3] = ['a', 'b', 'c'].map((s) => ticket(a, s));
    expect(t1?.claimDevice('SEP001122334455')).toBe(true);
    expect(t1?.claimDevice('SEP001122334455')).toBe(true); // same ticket, same device: no second slot
    expect(t2?.claimDevice('SEP001122334455')).toBe(true);
    expect(a.onDevice('SEP001122334455')).toBe(2);
    expect(t3?.claimDevice('SEP001122334455')).toBe(false);
    expect(t3?.claimDevice('SEP0011223344AA')).toBe(true);
    t1?.release();
    expect(a.onDevice('SEP001122334455')).toBe(1);
    expect(t1?.claimDevice('SEP001122334455')).toBe(false); // a released ticket claims nothing
  });

  it('forgets sources and devices at zero (maps bounded by live connections)', () => {
    const a = new Admission(limits);
    const t = ticket(a, 'x');
    t.claimDevice('d');
    t.release();
    expect(a.connections).toBe(0);
    expect(a.pending).toBe(0);
    expect(a.fromSource('x')).toBe(0);
    expect(a.onDevice('d')).toBe(0);
    // Internal maps emptied: a later admit starts from zero.
    for (let i = 0; i < 2; i++) ticket(a, 'x');
    expect(a.admit('x')).toBe('pending-limit');
  });
});
