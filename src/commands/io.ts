/** What every CLI command gets: its arguments and the process's streams (tests pass their own). */
export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

export type CommandRunner = (argv: string[], io: CommandIo) => Promise<number>;

export const DEFAULT_STATE_DIR = 'var';
export const DEFAULT_POLICY = 'policies/default.yaml';
