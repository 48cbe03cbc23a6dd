/**
 * The command tree validates options before a command module loads, then the module parses the
 * same words again with its own parseArgs table. These two tables must agree, or the tree would
 * refuse an option the command takes (or pass one it refuses): each module's table is caught
 * here as it calls parseArgs, and compared with src/cli/spec.ts.
 */
import util from 'node:util';
import { RUNNERS } from '../../src/cli/runners';
import { type CommandSpec, DEBUG_CATEGORIES, TREE } from '../../src/cli/spec';
import { DEBUG_CATEGORIES as LOG_CATEGORIES } from '../../src/log';
import { captureIo } from '../pki/helpers';

type Config = Record<string, { type: string; multiple?: boolean }>;

const leaves: { top: CommandSpec; sub: string[]; spec: CommandSpec }[] = (TREE.subcommands ?? [])
  .filter((c) => c.name !== 'help')
  .flatMap((top) =>
    top.subcommands
      ? top.subcommands.map((s) => ({ top, sub: [s.name], spec: s }))
      : [{ top, sub: [] as string[], spec: top }],
  );

afterEach(() => jest.restoreAllMocks());

test.each(leaves.map((l) => [[l.top.name, ...l.sub].join(' '), l] as const))(
  '%s: the tree’s options are the ones the command parses',
  async (_, { top, sub, spec }) => {
    const seen: Config[] = [];
    const real = util.parseArgs;
    jest.spyOn(util, 'parseArgs').mockImplementation(((config: { options?: Config }) => {
      seen.push(config.options ?? {});
      return real(config as Parameters<typeof real>[0]);
    }) as typeof real);
    // An option nobody has: the module's parseArgs refuses it, so nothing else runs (no daemon starts).
    const io = captureIo();
    const run = RUNNERS[top.name];
    if (!run) throw new Error(`no runner for ${top.name}`);
    const code = await run([...sub, '--zz-not-an-option'], io).catch(() => 2);
    if (top.name === 'completion') {
      // Parses nothing: its only word is the shell, and it has no options.
      expect(seen).toEqual([]);
      expect(spec.options ?? []).toEqual([]);
      return;
    }
    expect(code).toBe(2);
    expect(seen).toHaveLength(1);
    const module = Object.fromEntries(
      Object.entries(seen[0] as Config).map(([k, v]) => [k, `${v.type}${v.multiple ? '[]' : ''}`]),
    );
    const tree = Object.fromEntries(
      (spec.options ?? []).map((o) => [o.name, `${o.value ? 'string' : 'boolean'}${o.multiple ? '[]' : ''}`]),
    );
    expect(tree).toEqual(module);
  },
);

test('every command of the tree has a runner, and every runner a command', () => {
  const names = (TREE.subcommands ?? []).map((c) => c.name).filter((n) => n !== 'help');
  expect(Object.keys(RUNNERS).sort()).toEqual(names.sort());
});

test('the debug categories the tree completes are the ones the daemon knows', () => {
  expect([...DEBUG_CATEGORIES]).toEqual([...LOG_CATEGORIES]);
});
