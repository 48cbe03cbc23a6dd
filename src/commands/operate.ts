/** `show …`, `clear …`, `debug <category> on|off`, `reload`: ask the running daemon through its control API. */
import { parseArgs } from 'node:util';
import type { ViewResult } from '../contracts/service';
import { callDaemon } from '../control/api';
import { renderView } from '../control/render';
import { CommandError } from '../errors';
import type { ReloadResult } from '../policy-reload';
import { type CommandIo, controlDirOf, DEFAULT_STATE_DIR } from './io';

/**
 * show and clear take --cluster (debug does not): the view sees it as a word, and the ones that
 * take it answer for every node. `all` only for show (its views that hide zero rows).
 */
function parse(argv: string[], withCluster = false, all = false) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      state: { type: 'string', default: DEFAULT_STATE_DIR },
      'control-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      ...(withCluster ? { cluster: { type: 'boolean', default: false } as const } : {}),
      ...(all ? { all: { type: 'boolean', default: false } as const } : {}),
    },
    allowPositionals: true,
  });
  const stateDir = values.state;
  const controlDir = controlDirOf(values['control-dir'], stateDir);
  const call = (method: 'GET' | 'POST', words: string[]) => callDaemon(controlDir, method, words, stateDir);
  // --all and --cluster reach the view as words (`show phone-proxy drops --all`).
  const words = [...positionals, ...(values.all === true ? ['all'] : []), ...(values.cluster ? ['--cluster'] : [])];
  return { call, json: values.json, words };
}

async function listCommands(call: Call, kind: 'show' | 'clear', io: CommandIo): Promise<number> {
  const list = (await call('GET', ['commands'])) as Record<'show' | 'clear', { name: string; help: string }[]>;
  io.stdout.write(`${kind} what? one of:\n`);
  for (const c of list[kind]) io.stdout.write(`  ${kind} ${c.name.padEnd(34)} ${c.help}\n`);
  return 1;
}

type Call = ReturnType<typeof parse>['call'];

export async function show(argv: string[], io: CommandIo): Promise<number> {
  const { call, json, words } = parse(argv, true, true);
  if (words.length === 0) return listCommands(call, 'show', io);
  const view = (await call('GET', ['show', ...words])) as ViewResult;
  io.stdout.write(json ? `${JSON.stringify(view.data, null, 2)}\n` : renderView(view));
  return 0;
}

export async function clear(argv: string[], io: CommandIo): Promise<number> {
  const { call, json, words } = parse(argv, true);
  if (words.length === 0) return listCommands(call, 'clear', io);
  const result = (await call('POST', ['clear', ...words])) as { message: string };
  io.stdout.write(json ? `${JSON.stringify(result)}\n` : `${result.message}\n`);
  return 0;
}

export async function debug(argv: string[], io: CommandIo): Promise<number> {
  const { call, words } = parse(argv);
  const result = (await call('POST', ['debug', ...words])) as { message: string };
  io.stdout.write(`${result.message}\n`);
  return 0;
}

/**
 * `reload`: the daemon re-reads its policy file. A refused policy comes back as the daemon's
 * error (exit 1, the problems on stderr); keys that need a restart are named (exit 0: what could
 * apply did).
 */
export async function reload(argv: string[], io: CommandIo): Promise<number> {
  const { call, json, words } = parse(argv);
  if (words.length > 0) throw new CommandError(`reload takes no arguments, got "${words.join(' ')}"`);
  const r = (await call('POST', ['reload'])) as ReloadResult;
  if (json) {
    io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(`reloaded ${r.file}\n`);
  io.stdout.write(`applied live: ${r.applied.length ? r.applied.join(', ') : 'nothing changed that applies live'}\n`);
  if (r.restartOnly.length)
    io.stdout.write(`needs a restart (still running the old values): ${r.restartOnly.join(', ')}\n`);
  return 0;
}
