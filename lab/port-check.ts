/**
 * Whether the lab left anything listening: each endpoint is bound for a moment; EADDRINUSE
 * means a socket still holds it.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface Endpoint {
  protocol: 'tcp' | 'udp';
  address: string;
  port: number;
}

function tryBind(e: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (free: boolean) => (err?: NodeJS.ErrnoException) => resolve(free || err?.code !== 'EADDRINUSE');
    if (e.protocol === 'tcp') {
      const s = net.createServer();
      s.once('error', (err) => done(false)(err));
      s.listen(e.port, e.address, () => s.close(() => resolve(true)));
    } else {
      const s = dgram.createSocket('udp4');
      s.once('error', (err) => {
        s.close();
        done(false)(err);
      });
      s.bind(e.port, e.address, () => s.close(() => resolve(true)));
    }
  });
}

/** The endpoints some socket still holds. */
export async function portsInUse(endpoints: Endpoint[]): Promise<Endpoint[]> {
  const free = await Promise.all(endpoints.map(tryBind));
  return endpoints.filter((_, i) => !free[i]);
}
