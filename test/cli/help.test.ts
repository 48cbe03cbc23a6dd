/**
 * The command line as an operator meets it, on the compiled CLI (dist/, built by `npm test`):
 * help for every command and subcommand on stdout with exit 0, usage errors on stderr with
 * exit 2, --version, and the exit codes `phone-proxy --help` and docs/cli.md document.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CommandSpec, EXIT_CODES, TREE } from '../../src/cli/spec';
import { ROOT, runCli } from '../support/cli-process';

/** Every visible command path under the tree: ['start'], ['ctl'], ['ctl', 'build'], ... */
function paths(c: CommandSpec, prefix: string[] = []): { words: string[]; spec: CommandSpec }[] {
  return (c.subcommands ?? [])
    .filter((s) => !s.hidden)
    .flatMap((s) => [{ words: [...prefix, s.name], spec: s }, ...paths(s, [...prefix, s.name])]);
}

const ALL = paths(TREE);

/** Lines of the indented two-column blocks (`Commands:`, `Options:`, ...) of a help text. */
function blocks(text: string): string[][] {
  const out: string[][] = [];
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    if (/^[A-Z][\w ]*:$/.test(line)) {
      current = [];
      out.push(current);
    } else if (current && line.startsWith('  ')) current.push(line);
    else current = undefined;
  }
  return out.filter((b) => b.length > 0);
}

/** Column where the right-hand text starts, per row that starts a new entry. */
const rightColumns = (block: string[]) =>
  block.filter((l) => /^ {2}\S/.test(l)).map((l) => (l.match(/^ {2}\S.*?\s{2,}(?=\S)/)?.[0] ?? '').length);

test('the tree is walked: every command and subcommand the README names is there', () => {
  const names = ALL.map((p) => p.words.join(' '));
  for (const n of ['start', 'check', 'import-asa', 'show', 'clear', 'debug', 'ctl show', 'ctl build', 'ctl accept']) {
    expect(names).toContain(n);
  }
  for (const n of ['sign', 'sast export', 'sast import', 'pki export', 'completion', 'help'])
    expect(names).toContain(n);
});

test('phone-proxy --help: stdout, exit 0, every command, options, exit codes, aligned', async () => {
  for (const flag of ['--help', '-h', 'help']) {
    const r = await runCli([flag]);
    expect({ flag, code: r.code, stderr: r.stderr }).toEqual({ flag, code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^usage: phone-proxy <command>/);
    for (const p of ALL.filter((x) => !x.spec.subcommands)) expect(r.stdout).toContain(`\n  ${p.words.join(' ')}`);
    expect(r.stdout).toContain('--version');
    for (const e of EXIT_CODES) expect(r.stdout).toMatch(new RegExp(`\\n  ${e.code}  \\S`));
    const b = blocks(r.stdout);
    expect(b.length).toBeGreaterThanOrEqual(4);
    for (const block of b) expect(new Set(rightColumns(block)).size).toBe(1);
  }
});

test.each(ALL.map((p) => [p.words.join(' '), p] as const))('phone-proxy %s --help', async (_, p) => {
  const r = await runCli([...p.words, '--help']);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(new RegExp(`^usage: phone-proxy ${p.words.join(' ')}\\b`));
  for (const o of p.spec.options ?? []) expect(r.stdout).toContain(`--${o.name}`);
  for (const s of p.spec.subcommands ?? []) expect(r.stdout).toContain(`\n  ${s.name}`);
  for (const block of blocks(r.stdout)) expect(new Set(rightColumns(block)).size).toBe(1);
  // `help WORDS` says the same thing.
  expect((await runCli(['help', ...p.words])).stdout).toBe(r.stdout);
});

test('-h anywhere after a command, even after its options, is that command’s help', async () => {
  const r = await runCli(['ctl', 'build', '--out', 'x.tlv', '-h']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^usage: phone-proxy ctl build --out FILE/);
});

test('--version and -V print package.json’s version', async () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  for (const flag of ['--version', '-V']) {
    const r = await runCli([flag]);
    expect(r).toEqual({ code: 0, stdout: `${pkg.name} ${pkg.version}\n`, stderr: '' });
  }
});

describe('usage errors: stderr, exit 2, nothing on stdout', () => {
  test.each([
    [[], /^usage: phone-proxy <command>/],
    [['frobnicate'], /^phone-proxy: unknown command "frobnicate"\n/],
    [['--frobnicate'], /^phone-proxy: unknown option '--frobnicate'/],
    [['start', '--polcy', 'x.yaml'], /^phone-proxy start: unknown option '--polcy'/],
    [['show', 'version', '--jsn'], /^phone-proxy show: unknown option '--jsn'/],
    [['ctl'], /^phone-proxy ctl: a subcommand is needed: show, build, accept/],
    [['ctl', 'frob'], /^phone-proxy ctl: unknown subcommand "frob" \(one of: show, build, accept\)/],
    [['ctl', 'build'], /^phone-proxy ctl build: --out FILE is required/],
    [['ctl', 'build', '--out'], /^phone-proxy ctl build: option '--out' needs a value: --out FILE/],
    [['ctl', 'show'], /^phone-proxy ctl show: missing FILE/],
    [
      ['sast', 'export', '--out', 'x.p12', '--passphrase', 'x'],
      /^phone-proxy sast export: unknown option '--passphrase'/,
    ],
    [['import-asa', 'a.txt', 'b.txt'], /^phone-proxy import-asa: unexpected argument: b\.txt/],
    [['pki', 'export', 'ldc-issuers'], /^phone-proxy pki export: ldc-issuer: "ldc-issuers" is not one of ldc-issuer/],
    [['completion', 'zsh'], /^phone-proxy completion: SHELL: "zsh" is not one of bash/],
    [['help', 'frob'], /^phone-proxy: no help for "frob"/],
  ])('phone-proxy %j', async (args, message) => {
    const r = await runCli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    if (args.length > 0) expect(r.stderr).toMatch(/\nRun 'phone-proxy[\w -]*--help' for usage\.\n$/);
  });
});

describe('exit codes, as documented', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pp-cli-exit-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('docs/cli.md documents exactly the codes `phone-proxy --help` does', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `(\d+)` \|/gm)].map((m) => Number(m[1]));
    expect(documented).toEqual(EXIT_CODES.map((e) => e.code));
  });

  test('0: done', async () => {
    expect((await runCli(['check', '--policy', 'policies/default.yaml'])).code).toBe(0);
  });

  test('1: the operation failed (no appliance running, a policy that does not load)', async () => {
    const show = await runCli(['show', 'version', '--state', dir]);
    expect(show.code).toBe(1);
    expect(show.stderr).toMatch(/^phone-proxy show: no running phone-proxy found in /);
    expect((await runCli(['check', '--policy', path.join(dir, 'none.yaml')])).code).toBe(1);
  });

  test('2: a named input that is not what the command takes', async () => {
    const r = await runCli(['ctl', 'show', 'policies/default.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a valid CTL file/);
  });
});
