/** `show …`, `clear …`, `debug <category> on|off`: ask the running daemon through its control API. */
import { parseArgs } from 'node:util';
import type { ViewResult } from '../contracts/service';
import { callDaemon } from '../control/api';
import { renderView } from '../control/render';
import { type CommandIo, DEFAULT_STATE_DIR } from './io';

/** show and clear take --cluster (debug does not): the view sees it as a word, and the ones that take it answer for every node. */
function parse(argv: string[], withCluster = false) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      state: { type: 'string', default: DEFAULT_STATE_DIR },
      json: { type: 'boolean', default: false },
      ...(withCluster ? { cluster: { type: 'boolean', default: false } } : {}),
    },
    allowPositionals: true,
  });
  const words = values.cluster ? [...positionals, '--cluster'] : positionals;
  return { stateDir: values.state as string, json: values.json as boolean, words };
}

async function listCommands(stateDir: string, kind: 'show' | 'clear', io: CommandIo): Promise<number> {
  const list = (await callDaemon(stateDir, 'GET', ['commands'])) as Record<
    'show' | 'clear',
    { name: string; help: string }[]
  >;
  io.stdout.write(`${kind} what? one of:\n`);
  for (const c of list[kind]) io.stdout.write(`  ${kind} ${c.name.padEnd(34)} ${c.help}\n`);
  return 1;
}

export async function show(argv: string[], io: CommandIo): Promise<number> {
  const { stateDir, json, words } = parse(argv, true);
  if (words.length === 0) return listCommands(stateDir, 'show', io);
  const view = (await callDaemon(stateDir, 'GET', ['show', ...words])) as ViewResult;
  io.stdout.write(json ? `${JSON.stringify(view.data, null, 2)}\n` : renderView(view));
  return 0;
}

export async function clear(argv: string[], io: CommandIo): Promise<number> {
  const { stateDir, json, words } = parse(argv, true);
  if (words.length === 0) return listCommands(stateDir, 'clear', io);
  const result = (await callDaemon(stateDir, 'POST', ['clear', ...words])) as { message: string };
  io.stdout.write(json ? `${JSON.stringify(result)}\n` : `${result.message}\n`);
  return 0;
}

export async function debug(argv: string[], io: CommandIo): Promise<number> {
  const { stateDir, words } = parse(argv);
  const result = (await callDaemon(stateDir, 'POST', ['debug', ...words])) as { message: string };
  io.stdout.write(`${result.message}\n`);
  return 0;
}
