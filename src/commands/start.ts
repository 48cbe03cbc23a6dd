/** `phone-proxy start`: run the appliance in the foreground until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { startDaemon } from '../daemon';
import { type CommandIo, DEFAULT_POLICY, DEFAULT_STATE_DIR } from './io';

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      policy: { type: 'string', default: DEFAULT_POLICY },
      state: { type: 'string', default: DEFAULT_STATE_DIR },
    },
  });
  const daemon = await startDaemon({ policyFile: values.policy, stateDir: values.state });
  // Handlers go in before "ready" is printed: whoever reads that line may signal at once.
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      io.stdout.write(`${signal}: stopping\n`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  io.stdout.write(`phone-proxy running policy ${daemon.ctx.loaded.file}\n`);
  for (const l of daemon.listening) {
    io.stdout.write(
      `  ${l.what.padEnd(24)} ${l.protocol.padEnd(5)} ${l.address}${l.port === undefined ? '' : `:${l.port}`}\n`,
    );
  }
  io.stdout.write(`ready; manage it with: phone-proxy show version --state ${values.state}\n`);
  await stopped;
  await daemon.stop();
  return 0;
}
