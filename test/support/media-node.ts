/**
 * A cluster node with only the media service, as a real process (issue 14, the kill -9 test):
 * the daemon's own start-up (`startDaemon`: policy, cluster link from `appliance-cluster`,
 * control socket, views) building just media termination, whose replica runs off the link the
 * daemon made. The parent drives allocation over IPC, standing in for signaling:
 *   { op: 'allocate', req, callId } → { req, info }
 *   { op: 'update', req, id, leg, cfg } (keys as byte arrays) → { req }
 * Run from dist-dev/: node dist-dev/test/support/media-node.js POLICY STATE
 */
import type { MediaSessionInfo, UpdateLegConfig } from '../../src/contracts/media';
import { startDaemon } from '../../src/daemon';
import { createMediaService, type MediaService } from '../../src/media/service';

type Ask =
  | { op: 'allocate'; req: number; callId: string }
  | { op: 'update'; req: number; id: string; leg: 'outside' | 'inside'; cfg: WireLegConfig };

/** UpdateLegConfig with keys as plain arrays (IPC's JSON). */
export type WireLegConfig = Omit<UpdateLegConfig, 'srtp'> & {
  srtp?: { profile: NonNullable<UpdateLegConfig['srtp']>['profile']; recvKey: number[]; sendKey: number[] };
};

async function main(): Promise<void> {
  const [policyFile, stateDir] = process.argv.slice(2);
  if (!policyFile || !stateDir || !process.send) throw new Error('usage: media-node POLICY STATE (forked with IPC)');
  let media: MediaService | undefined;
  await startDaemon({
    policyFile,
    stateDir,
    warmup: false,
    services: (ctx) => {
      media = createMediaService(ctx);
      return [media];
    },
  });
  const m = media as MediaService;
  process.on('message', (a: Ask) => {
    const run = async (): Promise<MediaSessionInfo | undefined> => {
      if (a.op === 'allocate') return m.allocate({ callId: a.callId });
      const { srtp, ...rest } = a.cfg;
      await m.updateLeg(a.id, a.leg, {
        ...rest,
        ...(srtp
          ? {
              srtp: {
                profile: srtp.profile,
                recvKey: Uint8Array.from(srtp.recvKey),
                sendKey: Uint8Array.from(srtp.sendKey),
              },
            }
          : {}),
      });
      return undefined;
    };
    run().then(
      (info) => process.send?.({ req: a.req, info }),
      (err: Error) => process.send?.({ req: a.req, error: err.message }),
    );
  });
  process.send({ ready: true });
}

main().catch((err: Error) => {
  process.stderr.write(`media-node: ${err.message}\n`);
  process.exit(1);
});
