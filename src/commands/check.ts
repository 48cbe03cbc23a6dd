/** `phone-proxy check --policy FILE...`: validate policies without starting anything. */
import { parseArgs } from 'node:util';
import { loadPolicy, missingPolicyFiles } from '../config/load-policy';
import { PolicyError } from '../errors';
import { type CommandIo, DEFAULT_POLICY } from './io';

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { policy: { type: 'string', multiple: true } },
    allowPositionals: true,
  });
  const files = [...(values.policy ?? []), ...positionals];
  if (files.length === 0) files.push(DEFAULT_POLICY);
  let failed = 0;
  for (const file of files) {
    try {
      const loaded = loadPolicy(file);
      io.stdout.write(`${file}: OK\n`);
      // Not an error here: an operator checks a policy before copying the certificates over.
      for (const missing of missingPolicyFiles(loaded)) {
        io.stdout.write(`${file}: warning: ${missing} not found yet (needed at start)\n`);
      }
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      failed++;
      io.stderr.write(`${err.message}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}
