/**
 * Compatibility for src/lab (ucm-sim.ts, phones.ts), which imports this path and is not this
 * branch's to edit. The npm `tftp` package is no longer used here: the names below are the
 * project's own server (server.ts) and client (client.ts). Once src/lab imports those directly,
 * delete this file (issue 12).
 */
import { TftpErrorCode } from './packet';
import { TFTP_MESSAGES, TftpServer } from './server';

export { Upstream, UpstreamError, type UpstreamGet } from './client';
export { TFTP_MESSAGES } from './server';

/** The old listener's request/response pair, reduced to what src/lab uses. */
export interface ServerRequest {
  file: string;
  abort(message?: string): void;
}
export interface ServerResponse {
  setSize(size: number): void;
  end(bytes: Buffer): void;
}

export interface ListenerOptions {
  address: string;
  port: number;
  /** Ignored (the project's server has its own hooks); kept for the old call sites. */
  prefilter(...a: unknown[]): boolean;
  onRequest(req: ServerRequest, res: ServerResponse): void;
}

export interface Listener {
  address: string;
  port: number;
  close(): Promise<void>;
}

const CODES: Record<string, TftpErrorCode> = {
  [TFTP_MESSAGES.notFound]: TftpErrorCode.FileNotFound,
  [TFTP_MESSAGES.accessViolation]: TftpErrorCode.AccessViolation,
  [TFTP_MESSAGES.illegal]: TftpErrorCode.IllegalOperation,
};

export async function startListener(o: ListenerOptions): Promise<Listener> {
  const server = new TftpServer({
    address: o.address,
    port: o.port,
    hooks: {
      gate: () => true,
      check: () => undefined,
      refused: () => undefined,
      repeated: () => undefined,
      request: (t) => {
        let size: number | undefined;
        o.onRequest(
          {
            file: t.file,
            abort: (m = 'Aborted') => t.refuse(CODES[m] ?? TftpErrorCode.NotDefined, m),
          },
          {
            setSize: (n) => {
              size = n;
            },
            end: (bytes) => {
              if (size !== undefined && size !== bytes.length) {
                t.refuse(TftpErrorCode.NotDefined, 'size mismatch');
                return;
              }
              t.sendBuffer(bytes);
            },
          },
        );
      },
    },
  });
  await server.listen();
  return { address: server.address, port: server.port, close: () => server.close() };
}
