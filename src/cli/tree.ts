/**
 * Walks the command tree (src/cli/spec.ts) over argv: finds the command, answers --help and
 * --version, and rejects unknown commands, unknown options, missing values and wrong argument
 * counts before any command module is loaded. The command then gets its words untouched and
 * parses them itself (node:util parseArgs), exactly as it always has.
 */
import { parseArgs } from 'node:util';
import { type ArgSpec, type CommandSpec, EXIT_CODES, type OptionSpec, TREE } from './spec';

export type Resolution =
  | { kind: 'help'; path: CommandSpec[]; toStderr?: boolean; exitCode: number }
  | { kind: 'version' }
  | { kind: 'usage'; path: CommandSpec[]; message: string }
  | { kind: 'run'; command: CommandSpec; argv: string[] };

const HELP_FLAGS = new Set(['--help', '-h']);

export const visible = (c: CommandSpec) => (c.subcommands ?? []).filter((s) => !s.hidden);
const find = (c: CommandSpec, name: string) => c.subcommands?.find((s) => s.name === name);

/** Words before a `--` terminator: `--help` after it is somebody's argument. */
function beforeTerminator(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return end === -1 ? argv : argv.slice(0, end);
}

/** String-valued options anywhere under `c`: their values are skipped when looking for a subcommand word. */
function valueOptions(c: CommandSpec): Set<string> {
  const out = new Set<string>();
  for (const o of c.options ?? []) if (o.value) out.add(`--${o.name}`);
  for (const s of c.subcommands ?? []) for (const n of valueOptions(s)) out.add(n);
  return out;
}

/** Index of the first positional word of argv (the subcommand), skipping options and their values. */
function firstWord(argv: string[], takesValue: Set<string>): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!a.startsWith('-') || a === '-') return i;
    if (!a.includes('=') && takesValue.has(a)) i++;
  }
  return -1;
}

export function resolve(argv: string[]): Resolution {
  const path: CommandSpec[] = [TREE];
  const head = beforeTerminator(argv);
  if (argv.length === 0) return { kind: 'help', path, toStderr: true, exitCode: 2 };
  const first = argv[0] as string;
  if (HELP_FLAGS.has(first)) return { kind: 'help', path, exitCode: 0 };
  if (first === '--version' || first === '-V') return { kind: 'version' };
  if (first.startsWith('-')) return { kind: 'usage', path, message: `unknown option '${first}'` };
  const top = find(TREE, first);
  if (!top) return { kind: 'usage', path, message: `unknown command "${first}"` };
  path.push(top);
  const rest = argv.slice(1);

  if (top.name === 'help') return helpFor(rest);

  let node = top;
  let words = rest;
  if (top.subcommands) {
    const at = firstWord(rest, valueOptions(top));
    if (at === -1) {
      if (head.some((a) => HELP_FLAGS.has(a))) return { kind: 'help', path, exitCode: 0 };
      return {
        kind: 'usage',
        path,
        message: `a subcommand is needed: ${visible(top)
          .map((s) => s.name)
          .join(', ')}`,
      };
    }
    const sub = find(top, rest[at] as string);
    if (!sub) {
      return {
        kind: 'usage',
        path,
        message: `unknown subcommand "${rest[at]}" (one of: ${visible(top)
          .map((s) => s.name)
          .join(', ')})`,
      };
    }
    node = sub;
    path.push(sub);
    words = [...rest.slice(0, at), ...rest.slice(at + 1)];
  }
  if (head.some((a) => HELP_FLAGS.has(a))) return { kind: 'help', path, exitCode: 0 };
  const problem = checkWords(node, words);
  if (problem) return { kind: 'usage', path, message: problem };
  return { kind: 'run', command: top, argv: rest };
}

/** `phone-proxy help [COMMAND [SUBCOMMAND]]`. */
function helpFor(argv: string[]): Resolution {
  const path: CommandSpec[] = [TREE];
  const words = argv.filter((w) => !HELP_FLAGS.has(w));
  // `help --help` is the help command's own help; `help ctl -h` is ctl's.
  if (words.length === 0 && argv.length > 0) words.push('help');
  for (const w of words) {
    const last = path[path.length - 1] as CommandSpec;
    const next = find(last, w);
    if (!next) {
      return { kind: 'usage', path, message: `no help for "${words.join(' ')}": unknown command "${w}"` };
    }
    path.push(next);
  }
  return { kind: 'help', path, exitCode: 0 };
}

/** The option and argument problems the command would refuse anyway, worded for an operator. */
function checkWords(node: CommandSpec, words: string[]): string | undefined {
  const specs = node.options ?? [];
  const config = Object.fromEntries(
    specs.map((o) => [o.name, { type: o.value ? 'string' : 'boolean', multiple: o.multiple ?? false } as const]),
  );
  // Lenient pass first, for our own wording of unknown options (parseArgs's says "Unknown option
  // '--x'. To specify a positional argument starting with a '-', ...").
  const { tokens } = parseArgs({ args: words, options: config, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'option' && !(t.name in config)) return `unknown option '${t.rawName}'`;
    const spec = specs.find((o) => t.kind === 'option' && o.name === t.name);
    if (t.kind === 'option' && spec?.value && t.value === undefined) {
      return `option '${t.rawName}' needs a value: --${spec.name} ${spec.value}`;
    }
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: words, options: config, strict: true, allowPositionals: true });
  } catch (err) {
    return (err as Error).message;
  }
  for (const o of specs) {
    if (o.required && parsed.values[o.name] === undefined) return `--${o.name} ${o.value} is required`;
  }
  const args = node.args ?? [];
  const needed = args.filter((a) => a.required).length;
  const variadic = args.some((a) => a.variadic);
  const n = parsed.positionals.length;
  if (n < needed)
    return `missing ${args
      .filter((a) => a.required)
      .slice(n)
      .map((a) => a.name)
      .join(' ')}`;
  if (!variadic && n > args.length) {
    const extra = parsed.positionals.slice(args.length);
    return `unexpected argument${extra.length > 1 ? 's' : ''}: ${extra.join(' ')}`;
  }
  for (const [i, a] of args.entries()) {
    const v = parsed.positionals[i];
    if (v !== undefined && a.valueKind.kind === 'choice' && !a.valueKind.values.includes(v)) {
      return `${a.name}: "${v}" is not one of ${a.valueKind.values.join(', ')}`;
    }
  }
  return undefined;
}

// ---- help text -------------------------------------------------------------------------------

const commandLine = (path: CommandSpec[]) => path.map((c) => c.name).join(' ');

function optionUsage(o: OptionSpec): string {
  const flag = o.value ? `--${o.name} ${o.value}` : `--${o.name}`;
  const shown = o.multiple ? `${flag}...` : flag;
  return o.required ? shown : `[${shown}]`;
}

function argUsage(a: ArgSpec): string {
  const w = a.variadic ? `${a.name}...` : a.name;
  return a.required ? w : `[${w}]`;
}

export function synopsis(c: CommandSpec): string {
  const parts: string[] = [];
  if (c.subcommands)
    parts.push(
      `<${visible(c)
        .map((s) => s.name)
        .join('|')}>`,
    );
  for (const a of c.args ?? []) parts.push(argUsage(a));
  for (const o of c.options ?? []) parts.push(optionUsage(o));
  return parts.join(' ');
}

/** Two aligned columns; the right one wraps under itself. */
export function columns(rows: [string, string][], indent = 2, width = 100): string[] {
  const left = Math.max(...rows.map(([l]) => l.length));
  const room = Math.max(30, width - indent - left - 2);
  return rows.flatMap(([l, r]) => {
    const lines = wrap(r, room);
    return lines.map((line, i) => `${' '.repeat(indent)}${(i === 0 ? l : '').padEnd(left)}  ${line}`.trimEnd());
  });
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines;
}

/** Every runnable command line under `c`, with its summary: the top-level help's table. */
function leaves(c: CommandSpec, prefix: string[]): [string, string][] {
  return visible(c).flatMap((s): [string, string][] => {
    const words = [...prefix, s.name];
    if (s.subcommands) return leaves(s, words);
    const args = (s.args ?? []).map(argUsage).join(' ');
    return [[`${words.join(' ')}${args ? ` ${args}` : ''}`, s.summary]];
  });
}

export function helpText(path: CommandSpec[]): string {
  const c = path[path.length - 1] as CommandSpec;
  const out: string[] = [];
  if (path.length === 1) {
    out.push(`usage: phone-proxy <command> [arguments] [options]`, '', `${c.summary}.`, '', 'Commands:');
    out.push(...columns(leaves(c, [])));
    out.push(
      '',
      'Options:',
      ...columns([
        ['-h, --help', 'this help; after any command, that command\u2019s help'],
        ['-V, --version', 'print the version'],
      ]),
      '',
      'Environment:',
      ...columns([
        ['PHONE_PROXY_STATE', 'default of --state (the Debian package sets /var/lib/phone-proxy)'],
        ['PHONE_PROXY_POLICY', 'default of --policy (the Debian package sets /etc/phone-proxy/policy.yaml)'],
        ['PHONE_PROXY_TRACE', 'set: print the stack trace of an error, not only its message'],
      ]),
      '',
      'Exit codes:',
      ...columns(EXIT_CODES.map((e): [string, string] => [String(e.code), e.meaning])),
      '',
      'Run `phone-proxy <command> --help` for its arguments and options; docs/cli.md has all of it.',
    );
    return `${out.join('\n')}\n`;
  }
  out.push(`usage: ${commandLine(path)} ${synopsis(c)}`.trimEnd(), '', `${capitalise(c.summary)}.`);
  for (const d of c.details ?? []) out.push('', ...wrap(d, 98));
  if (c.subcommands) {
    out.push('', 'Subcommands:');
    out.push(...columns(visible(c).map((s): [string, string] => [`${s.name} ${synopsis(s)}`.trimEnd(), s.summary])));
  }
  const options: [string, string][] = (c.options ?? []).map((o) => [
    o.value ? `--${o.name} ${o.value}` : `--${o.name}`,
    `${o.help}${o.required ? ' (required)' : ''}`,
  ]);
  options.push(['-h, --help', 'this help']);
  out.push('', 'Options:', ...columns(options));
  if (c.subcommands) out.push('', `Run \`${commandLine(path)} <subcommand> --help\` for a subcommand\u2019s options.`);
  return `${out.join('\n')}\n`;
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
