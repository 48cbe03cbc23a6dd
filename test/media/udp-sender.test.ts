/**
 * The media sockets' send side (src/media/udp-sender.ts, issue 17): what leaves is exactly the
 * bytes asked for, whichever of the three forms is used, through a real loopback socket pair;
 * the literal lookup answers before it returns (dgram then sends within send() itself).
 */
import dgram from 'node:dgram';
import { createMediaSocket, literalLookup, SocketSender } from '../../src/media/udp-sender';

const ADDRESS = '127.0.4.77';

function bound(s: dgram.Socket): Promise<number> {
  return new Promise((resolve) => s.bind(0, ADDRESS, () => resolve(s.address().port)));
}

describe('SocketSender', () => {
  let tx: dgram.Socket;
  let rx: dgram.Socket;
  let port: number;
  const got: Buffer[] = [];
  let arrived: () => void = () => undefined;

  beforeAll(async () => {
    tx = createMediaSocket();
    rx = dgram.createSocket('udp4');
    rx.on('message', (m) => {
      got.push(Buffer.from(m));
      arrived();
    });
    await bound(tx);
    port = await bound(rx);
  });
  afterAll(() => {
    tx.close();
    rx.close();
  });

  const next = () =>
    new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no datagram within 2 s')), 2000);
      arrived = () => {
        clearTimeout(timer);
        resolve(got.shift() as Buffer);
      };
    });

  test('sends the first `length` bytes of a slot, the whole buffer, or an offset range, byte for byte', async () => {
    const slot = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const sender = new SocketSender(tx);
    for (const [offset, length] of [
      [0, 172],
      [0, 172], // the same view again
      [0, 182],
      [0, 256],
      [5, 10],
    ] as const) {
      const wait = next();
      sender.send(slot, offset, length, port, ADDRESS);
      expect(await wait).toEqual(slot.subarray(offset, offset + length));
    }
    // A slot rewritten in place: the cached view shows the new bytes, not a stale copy.
    slot.fill(0xab, 0, 172);
    const wait = next();
    sender.send(slot, 0, 172, port, ADDRESS);
    expect(await wait).toEqual(Buffer.alloc(172, 0xab));
  });

  test('the lookup answers synchronously with the literal as IPv4', () => {
    const seen: unknown[] = [];
    literalLookup('127.0.4.77', 4, (err, address, family) => seen.push(err, address, family));
    expect(seen).toEqual([null, '127.0.4.77', 4]);
  });
});
