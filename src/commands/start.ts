/**
 * `phone-proxy start`: run the appliance in the foreground until SIGINT/SIGTERM.
 * SIGHUP (`systemctl reload`) re-reads the policy: a policy that does not validate is refused and
 * the running appliance keeps going; a valid one restarts the appliance in-process on it (same
 * state directory, so the same keys; calls and connections in progress are dropped).
 */
import { parseArgs } from 'node:util';
import { loadPolicy } from '../config/load-policy';
import { type Daemon, startDaemon } from '../daemon';
import { CommandError } from '../errors';
import { LOG_FORMATS, type LogFormat } from '../log';
import { type CommandIo, DEFAULT_POLICY, DEFAULT_STATE_DIR } from './io';

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      policy: { type: 'string', default: DEFAULT_POLICY },
      state: { type: 'string', default: DEFAULT_STATE_DIR },
      'log-format': { type: 'string' },
    },
  });
  const format = values['log-format'];
  if (format !== undefined && !(LOG_FORMATS as readonly string[]).includes(format))
    throw new CommandError(`--log-format ${format}: must be one of ${LOG_FORMATS.join(', ')}`);
  const options = {
    policyFile: values.policy,
    stateDir: values.state,
    ...(format ? { logFormat: format as LogFormat } : {}),
  };
  let daemon: Daemon = await startDaemon(options);
  // Handlers go in before "ready" is printed: whoever reads that line may signal at once.
  let finish: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let stopping = false;
  // Reloads run one after the other; a stop waits for the reload in progress.
  let reloading: Promise<void> = Promise.resolve();
  const reload = async () => {
    if (stopping) return;
    try {
      loadPolicy(values.policy);
    } catch (err) {
      io.stderr.write(`SIGHUP: not reloaded, still running the previous policy: ${(err as Error).message}\n`);
      return;
    }
    io.stdout.write(`SIGHUP: reloading ${values.policy}\n`);
    await daemon.stop();
    try {
      daemon = await startDaemon(options);
    } catch (err) {
      io.stderr.write(`SIGHUP: restart failed, stopping: ${(err as Error).message}\n`);
      stopping = true;
      finish(1);
      return;
    }
    announce(daemon, io, values.state, 'reloaded');
  };
  const onHup = () => {
    reloading = reloading.then(reload);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    io.stdout.write(`${signal}: stopping\n`);
    stopping = true;
    finish(0);
  };
  process.on('SIGHUP', onHup);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  announce(daemon, io, values.state, 'ready');
  const code = await stopped;
  process.off('SIGHUP', onHup);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await reloading;
  if (code === 0) await daemon.stop();
  return code;
}

function announce(daemon: Daemon, io: CommandIo, stateDir: string, word: 'ready' | 'reloaded'): void {
  io.stdout.write(`phone-proxy running policy ${daemon.ctx.loaded.file}\n`);
  for (const l of daemon.listening) {
    io.stdout.write(
      `  ${l.what.padEnd(24)} ${l.protocol.padEnd(5)} ${l.address}${l.port === undefined ? '' : `:${l.port}`}\n`,
    );
  }
  io.stdout.write(`${word}; manage it with: phone-proxy show version --state ${stateDir}\n`);
}
