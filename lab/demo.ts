/**
 * `npm run demo`: the built-in lab (issue 9). Runs the scenario of scenario.ts and exits 0 only
 * if the audio arrived intact both ways. Options: --seconds N (audio length, 1-10, default 3),
 * --verbose (appliance logs to stderr), --policy FILE (default policies/default.yaml).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runLab } from './scenario';
import { renderSummary, verdict } from './summary';

/** The whole run, from temp dir to cleanup, stays under the 30 s. */
const RUN_TIMEOUT_MS = 25_000;
/** After cleanup the event loop must drain; if something still holds it, say what. */
const EXIT_GRACE_MS = 3000;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '3' },
      verbose: { type: 'boolean', default: false },
      policy: { type: 'string', default: path.resolve(__dirname, '../../policies/default.yaml') },
    },
  });
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 10) {
    process.stderr.write(`demo: --seconds must be a number from 1 to 10, got "${values.seconds}"\n`);
    return 2;
  }
  process.stdout.write(
    'phone-proxy lab: remote phone (TLS/SRTP) ↔ phone proxy ↔ UCM simulator ↔ inside phone (TCP/RTP)\n\n',
  );
  // Ctrl-C stops the lab where it is, and it still cleans up (appliance, stand-ins, temp dir).
  const interrupt = new AbortController();
  process.once('SIGINT', () => interrupt.abort());
  process.once('SIGTERM', () => interrupt.abort());
  const result = await runLab({
    signal: interrupt.signal,
    seconds,
    out: process.stdout,
    verbose: values.verbose,
    defaultPolicy: values.policy,
    timeoutMs: RUN_TIMEOUT_MS,
  });
  const failures = verdict(result);
  process.stdout.write(`\n${renderSummary(result, failures)}`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => {
      process.stderr.write(
        `demo: still running ${EXIT_GRACE_MS} ms after cleanup: ${process.getActiveResourcesInfo().join(', ')}\n`,
      );
      process.exit(code === 0 ? 3 : code);
    }, EXIT_GRACE_MS).unref();
  },
  (err: Error) => {
    process.stderr.write(`demo: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
