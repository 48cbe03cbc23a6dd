/**
 * What runs each top-level command, with the words after its name. Modules are imported only
 * when their command runs: `show` from a second shell must not load the daemon's modules.
 */
import type { CommandIo, CommandRunner } from '../commands/io';

const lazy =
  <M>(load: () => Promise<M>, pick: (m: M) => CommandRunner): CommandRunner =>
  async (argv: string[], io: CommandIo) =>
    pick(await load())(argv, io);

/** Keyed by the command's name in src/cli/spec.ts (`help` is answered by the tree itself). */
export const RUNNERS: Readonly<Record<string, CommandRunner>> = {
  start: lazy(
    () => import('../commands/start'),
    (m) => m.run,
  ),
  check: lazy(
    () => import('../commands/check'),
    (m) => m.run,
  ),
  'import-asa': lazy(
    () => import('../commands/import-asa'),
    (m) => m.run,
  ),
  show: lazy(
    () => import('../commands/operate'),
    (m) => m.show,
  ),
  clear: lazy(
    () => import('../commands/operate'),
    (m) => m.clear,
  ),
  debug: lazy(
    () => import('../commands/operate'),
    (m) => m.debug,
  ),
  capture: lazy(
    () => import('../commands/capture'),
    (m) => m.capture,
  ),
  no: lazy(
    () => import('../commands/capture'),
    (m) => m.no,
  ),
  reload: lazy(
    () => import('../commands/operate'),
    (m) => m.reload,
  ),
  ctl: lazy(
    () => import('../commands/ctl'),
    (m) => m.run,
  ),
  sign: lazy(
    () => import('../commands/sign'),
    (m) => m.run,
  ),
  sast: lazy(
    () => import('../commands/sast'),
    (m) => m.run,
  ),
  pki: lazy(
    () => import('../commands/pki'),
    (m) => m.runPki,
  ),
  completion: lazy(
    () => import('./completion'),
    (m) => m.runCompletion,
  ),
  __complete: lazy(
    () => import('./completion'),
    (m) => m.runCompleteViews,
  ),
};
