/**
 * The UCM simulator's TFTP server: serves files from a map with the appliance's own TFTP
 * server (src/tftp/server.ts). The lab checks the appliance end to end; the independent TFTP
 * peers (tftp-hpa, atftp, tftpd-hpa, the npm `tftp` package) are in test/tftp.
 */
import { TftpErrorCode } from '../src/tftp/packet';
import { TFTP_MESSAGES, TftpServer } from '../src/tftp/server';

export { TFTP_MESSAGES } from '../src/tftp/server';

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
