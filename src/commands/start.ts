/**
 * `phone-proxy start`: run the appliance in the foreground until SIGINT/SIGTERM.
 * SIGHUP (`systemctl reload`) is `phone-proxy reload` (src/policy-reload.ts): the policy is
 * re-read and checked; a bad one is refused (stderr) and the running one kept; what can change
 * live is applied without dropping calls or connections, and the keys that need a restart are
 * named (stdout) and keep their old values.
 */
import { parseArgs } from 'node:util';
import { type Daemon, startDaemon } from '../daemon';
import { CommandError } from '../errors';
import { LOG_FORMATS, type LogFormat } from '../log';
import { type CommandIo, controlDirOf, DEFAULT_POLICY, DEFAULT_STATE_DIR } from './io';

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      policy: { type: 'string', default: DEFAULT_POLICY },
      state: { type: 'string', default: DEFAULT_STATE_DIR },
      'control-dir': { type: 'string' },
      'log-format': { type: 'string' },
    },
  });
  const format = values['log-format'];
  if (format !== undefined && !(LOG_FORMATS as readonly string[]).includes(format))
    throw new CommandError(`--log-format ${format}: must be one of ${LOG_FORMATS.join(', ')}`);
  const controlDir = controlDirOf(values['control-dir'], values.state);
  const daemon: Daemon = await startDaemon({
    policyFile: values.policy,
    stateDir: values.state,
    controlDir,
    ...(format ? { logFormat: format as LogFormat } : {}),
  });
  // Handlers go in before "ready" is printed: whoever reads that line may signal at once.
  let finish: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let stopping = false;
  // Reloads run one after the other (the daemon queues them); a stop waits for the one under way.
  let reloading: Promise<void> = Promise.resolve();
  const onHup = () => {
    if (stopping) return;
    reloading = daemon.reload().then(
      (r) => {
        // One write: whoever reads the first line finds the second with it.
        io.stdout.write(
          `SIGHUP: reloaded ${r.file}: applied live: ${r.applied.length ? r.applied.join(', ') : 'nothing'}\n${
            r.restartOnly.length
              ? `SIGHUP: needs a restart (still running the old values): ${r.restartOnly.join(', ')}\n`
              : ''
          }`,
        );
      },
      (err: Error) => {
        io.stderr.write(`SIGHUP: not reloaded, still running the previous policy: ${err.message}\n`);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    io.stdout.write(`${signal}: stopping\n`);
    stopping = true;
    finish(0);
  };
  process.on('SIGHUP', onHup);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  io.stdout.write(`phone-proxy running policy ${daemon.ctx.loaded.file}\n`);
  for (const l of daemon.listening) {
    io.stdout.write(
      `  ${l.what.padEnd(24)} ${l.protocol.padEnd(5)} ${l.address}${l.port === undefined ? '' : `:${l.port}`}\n`,
    );
  }
  const where = controlDir === values.state ? `--state ${values.state}` : `--control-dir ${controlDir}`;
  io.stdout.write(`ready; manage it with: phone-proxy show version ${where}\n`);
  const code = await stopped;
  process.off('SIGHUP', onHup);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await reloading;
  await daemon.stop();
  return code;
}
