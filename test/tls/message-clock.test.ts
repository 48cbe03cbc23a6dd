/** The complete-message clock (src/tls/message-clock.ts). */
import { MessageClock } from '../../src/tls/message-clock';

describe('MessageClock', () => {
  it('runs from the first byte of a partial message, however slowly the rest trickles in', () => {
    const c = new MessageClock();
    expect(c.waiting(0)).toBe(0);
    c.note(10, 10, 1000);
    c.note(1, 11, 3000);
    c.note(1, 12, 5000);
    expect(c.waiting(6000)).toBe(5000);
  });

  it('stops when the message completes, restarts when a chunk completes one and starts another', () => {
    const c = new MessageClock();
    c.note(100, 100, 0);
    c.note(50, 0, 2000); // completed, nothing held
    expect(c.waiting(9000)).toBe(0);
    c.note(30, 30, 10_000);
    c.note(80, 40, 12_000); // 70 bytes finished the first, 40 start the next
    expect(c.waiting(13_000)).toBe(1000);
  });
});
