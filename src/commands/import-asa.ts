/**
 * `phone-proxy import-asa running-config.txt [--certs DIR] > policy.yaml`: an ASA phone proxy
 * configuration as a policy. Unmapped lines and warnings go to stderr as well as into the YAML
 * header; the result is validated like `check` does, so a policy that would not load says why.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { importAsaConfig, renderImport } from '../config/asa-import';
import { parsePolicy } from '../config/load-policy';
import { CommandError, PolicyError } from '../errors';
import { type CommandIo, say } from './io';

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { certs: { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new CommandError('usage: phone-proxy import-asa RUNNING-CONFIG [--certs DIR]');
  const file = positionals[0] as string;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CommandError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, 1);
  }
  const result = importAsaConfig(text, file);
  const yaml = renderImport(result, path.basename(file));
  io.stdout.write(yaml);

  for (const u of result.unmapped) say(io.stderr, `${file}:${u.line}: not mapped: ${u.text} (${u.reason})`);
  for (const w of result.warnings) say(io.stderr, `${file}${w.line ? `:${w.line}` : ''}: warning: ${w.message}`);
  if (values.certs) {
    mkdirSync(values.certs, { recursive: true });
    for (const c of result.certificates) {
      const to = path.join(values.certs, path.basename(c.file));
      writeFileSync(to, c.pem);
      say(io.stderr, `wrote ${to} (trustpoint ${c.trustpoint})`);
    }
  }
  try {
    parsePolicy(yaml, '(imported policy)');
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    say(io.stderr, `the imported policy does not validate yet: fix it before use\n${err.message}`);
    return 1;
  }
  return 0;
}
