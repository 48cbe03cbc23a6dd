/**
 * An ASA running-config as a tree of commands. The ASA writes sub-commands one space deeper
 * than their parent (`policy-map` › ` class` › `  inspect`), so indentation alone gives the
 * structure; `!` and `:` lines are comments. Pure: text in, tree and syntax problems out.
 */

export interface ConfigLine {
  /** 1-based line number in the file. */
  line: number;
  indent: number;
  /** The command as written, without indentation or trailing blanks. */
  text: string;
  /** Words, with "double-quoted strings" as one word (quotes removed). */
  words: string[];
  children: ConfigLine[];
}

export interface SyntaxProblem {
  line: number;
  text: string;
  reason: string;
}

export interface ParsedConfig {
  commands: ConfigLine[];
  /** Lines that are not commands at all (unterminated quote, indented line with no parent). */
  problems: SyntaxProblem[];
}

/**
 * Splits on blanks. A word that starts with a double quote runs to the closing quote (quotes
 * removed); a quote inside a word (`o="Cisco Inc"`) also holds blanks, and stays. Undefined
 * when a quote is not closed.
 */
export function splitWords(text: string): string[] | undefined {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ') i++;
    if (i >= text.length) break;
    if (text[i] === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) return undefined;
      words.push(text.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    let word = '';
    let quoted = false;
    for (; i < text.length && (quoted || text[i] !== ' '); i++) {
      if (text[i] === '"') quoted = !quoted;
      word += text[i];
    }
    if (quoted) return undefined;
    words.push(word);
  }
  return words;
}

function isComment(trimmed: string): boolean {
  return trimmed.startsWith('!') || trimmed.startsWith(':');
}

export function parseAsaConfig(text: string): ParsedConfig {
  const commands: ConfigLine[] = [];
  const problems: SyntaxProblem[] = [];
  // Open parents, shallowest first; a line becomes the child of the deepest one indented less.
  const stack: ConfigLine[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, n) => {
    const line = n + 1;
    // Tabs are not ASA output but survive copy and paste; count one as one level.
    const expanded = raw.replace(/\t/g, ' ').replace(/\s+$/, '');
    const trimmed = expanded.trimStart();
    if (trimmed === '' || isComment(trimmed)) return;
    const indent = expanded.length - trimmed.length;
    const words = splitWords(trimmed);
    if (!words) {
      problems.push({ line, text: trimmed, reason: 'malformed: a double quote is not closed' });
      return;
    }
    while (stack.length > 0 && (stack[stack.length - 1] as ConfigLine).indent >= indent) stack.pop();
    const node: ConfigLine = { line, indent, text: trimmed, words, children: [] };
    const parent = stack[stack.length - 1];
    if (parent) {
      parent.children.push(node);
    } else if (indent > 0) {
      problems.push({ line, text: trimmed, reason: 'malformed: indented sub-command without a parent command' });
      return;
    } else {
      commands.push(node);
    }
    stack.push(node);
  });
  return { commands, problems };
}

/** `words` starts with these (case-insensitive): the ASA accepts any case for keywords. */
export function startsWith(node: ConfigLine, ...prefix: string[]): boolean {
  return prefix.every((p, i) => node.words[i]?.toLowerCase() === p);
}
