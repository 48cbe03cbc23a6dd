/**
 * `phone-proxy completion bash`, driven the way bash drives it: COMP_WORDS/COMP_CWORD set, the
 * completion function called, COMPREPLY read. The show/clear words come from a stand-in control
 * API on a UNIX socket (the same endpoint file and route the daemon writes and serves).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { nextWords, VIEW_TIMEOUT_MS } from '../../src/cli/completion';
import { CLI, runCli } from '../support/cli-process';

let dir: string;
let script: string;
let bin: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pp-cli-completion-'));
  const r = await runCli(['completion', 'bash']);
  expect(r.code).toBe(0);
  script = path.join(dir, 'phone-proxy.bash');
  writeFileSync(script, r.stdout);
  // COMP_WORDS[0] is what the completion runs to ask the daemon: a phone-proxy on PATH, as installed.
  bin = path.join(dir, 'phone-proxy');
  writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
  chmodSync(bin, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** COMPREPLY for the command line `words` with the cursor on its last word. Asynchronous: the
 *  stand-in daemon below runs in this process and must answer while bash waits. */
async function complete(words: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const { stdout } = await promisify(execFile)(
    'bash',
    [
      '-c',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash script, not a template
      'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _phone_proxy; printf "%s\\n" "${COMPREPLY[@]}"',
      '_',
      script,
      bin,
      ...words,
    ],
    { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } },
  );
  return stdout.split('\n').filter(Boolean).sort();
}

test('the script is valid bash and registers the function for phone-proxy', () => {
  const r = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  expect(execFileSync('bash', ['-c', 'source "$1"; complete -p phone-proxy', '_', script], { encoding: 'utf8' })).toBe(
    'complete -F _phone_proxy phone-proxy\n',
  );
});

test('commands, subcommands and options', async () => {
  expect(await complete(['sh'])).toEqual(['show']);
  expect(await complete(['c'])).toEqual(['capture', 'check', 'clear', 'completion', 'ctl']);
  expect(await complete(['ctl', ''])).toEqual(['accept', 'build', 'show']);
  expect(await complete(['sast', 'i'])).toEqual(['import']);
  expect(await complete(['ctl', 'build', '--'])).toEqual(['--help', '--out', '--policy', '--state']);
  expect(await complete(['sast', 'export', '--passphrase-'])).toEqual(['--passphrase-env', '--passphrase-file']);
  expect(await complete(['--v'])).toEqual(['--version']);
  expect(await complete(['help', 'ctl', 'a'])).toEqual(['accept']);
  expect(await complete(['pki', 'export', ''])).toEqual(['ldc-issuer']);
  expect(await complete(['completion', ''])).toEqual(['bash']);
});

test('option values: choices, files, and a value is not taken for a subcommand', async () => {
  expect(await complete(['sign', 'x.xml', '--digest', ''])).toEqual(['sha1', 'sha512']);
  writeFileSync(path.join(dir, 'policy-a.yaml'), '');
  expect(await complete(['check', '--policy', 'policy-'])).toEqual(['policy-a.yaml']);
  // `--state show` is a directory named show, not the show subcommand.
  expect(await complete(['ctl', '--state', 'show', ''])).toEqual(['accept', 'build', 'show']);
});

test('debug: categories, then on|off', async () => {
  expect(await complete(['debug', ''])).toEqual(['errors', 'events', 'media', 'signaling', 'tftp']);
  expect(await complete(['debug', 'tftp', 'o'])).toEqual(['off', 'on']);
});

describe('show and clear words from the running appliance', () => {
  let server: http.Server;
  const hung = { requestAt: 0, closedAt: 0 };
  let state: string;
  let silent: string;
  beforeAll(async () => {
    state = path.join(dir, 'state');
    silent = path.join(dir, 'silent');
    for (const d of [state, silent]) execFileSync('mkdir', ['-p', d]);
    const commands = {
      show: [{ name: 'version' }, { name: 'phone-proxy media-sessions' }, { name: 'phone-proxy tftp' }],
      clear: [{ name: 'phone-proxy secure-phones' }, { name: 'tls-proxy connection' }],
    };
    server = http.createServer((req, res) => {
      if (req.url === '/commands') res.end(JSON.stringify(commands));
      // the silent daemon never answers: the completion must give up on its own
    });
    await new Promise<void>((r) => server.listen(path.join(dir, 'control.sock'), r));
    writeFileSync(path.join(state, 'control.json'), JSON.stringify({ socketPath: path.join(dir, 'control.sock') }));
    // Never answers; records when a request came in and when its client gave up on it.
    const hang = http.createServer((req) => {
      hung.requestAt = Date.now();
      req.socket.on('close', () => {
        hung.closedAt = Date.now();
      });
    });
    await new Promise<void>((r) => hang.listen(path.join(dir, 'hang.sock'), r));
    writeFileSync(path.join(silent, 'control.json'), JSON.stringify({ socketPath: path.join(dir, 'hang.sock') }));
    server.on('close', () => hang.close());
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  test('next word of a registered view name, with --state or $PHONE_PROXY_STATE', async () => {
    expect(await complete(['show', '--state', state, ''])).toEqual(['phone-proxy', 'version']);
    expect(await complete(['show', '--state', state, 'phone-proxy', 'm'])).toEqual(['media-sessions']);
    expect(await complete(['show', 'phone-proxy', ''], { PHONE_PROXY_STATE: state })).toEqual([
      'media-sessions',
      'tftp',
    ]);
    expect(await complete(['clear', `--state=${state}`, 't'])).toEqual(['tls-proxy']);
    expect(await complete(['show', '--state', state, 'version', ''])).toEqual([]);
  });

  test('no appliance, or one that does not answer in time: no words, the CLI gives up on its own timer', async () => {
    expect(await complete(['show', '--state', path.join(dir, 'nothing'), ''])).toEqual([]);
    expect(await complete(['show', '--state', silent, ''])).toEqual([]);
    // The server never answers, so returning at all means the CLI left on its own timer (without
    // one, the test times out); timed at the server, it waited that timer out, not less.
    expect(hung.requestAt).toBeGreaterThan(0);
    expect(hung.closedAt - hung.requestAt).toBeGreaterThanOrEqual(VIEW_TIMEOUT_MS - 20);
  });
});

test('nextWords: the word after the typed ones, once each', () => {
  const names = ['phone-proxy media-sessions', 'phone-proxy tftp', 'version', 'phone-proxy tftp'];
  expect(nextWords(names, [])).toEqual(['phone-proxy', 'version']);
  expect(nextWords(names, ['phone-proxy'])).toEqual(['media-sessions', 'tftp']);
  expect(nextWords(names, ['phone-proxy', 'tftp'])).toEqual([]);
  expect(nextWords(names, ['nope'])).toEqual([]);
});
