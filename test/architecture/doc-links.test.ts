/** Comments that cite `docs/<page>.md §N` must point at a page and section that exist. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

function files(dir: string, ext: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return rel === 'wasm/build' || e.name === 'node_modules' ? [] : files(rel, ext);
    return e.name.endsWith(ext) ? [rel] : [];
  });
}

/** Section numbers of a page's `## 4.` / `### 4.1` headings. */
function sections(page: string): Set<string> {
  const text = readFileSync(path.join(ROOT, page), 'utf8');
  return new Set([...text.matchAll(/^#{2,4} (\d+(?:\.\d+)*)\.? /gm)].map((m) => m[1] as string));
}

/** Every `docs/x.md` (with its first `§N` if one follows) cited in `text`, and what is missing. */
function broken(text: string, known: (page: string) => Set<string> | undefined): string[] {
  return [...text.matchAll(/docs\/([\w-]+\.md)(?:\s*§(\d+(?:\.\d+)*))?/g)].flatMap((m) => {
    const page = `docs/${m[1]}`;
    const secs = known(page);
    if (!secs) return [`${page} does not exist`];
    return m[2] && !secs.has(m[2]) ? [`${page} has no §${m[2]}`] : [];
  });
}

const cache = new Map<string, Set<string> | undefined>();
const known = (page: string) => {
  if (!cache.has(page)) cache.set(page, existsSync(path.join(ROOT, page)) ? sections(page) : undefined);
  return cache.get(page);
};

test('the checker reports a missing page and a missing section', () => {
  expect(broken('see docs/nowhere.md', known)).toEqual(['docs/nowhere.md does not exist']);
  expect(broken('(docs/sccp.md §42)', known)).toEqual(['docs/sccp.md has no §42']);
  expect(broken('(docs/sccp.md §5.8) and docs/references.md', known)).toEqual([]);
});

test('every docs/ citation in the code and the docs resolves', () => {
  const sources = ['src', 'ctl', 'wasm', 'lab', 'bench', 'test']
    .flatMap((d) => files(d, '.ts'))
    .filter((f) => f !== path.relative(ROOT, __filename)); // its own examples are broken on purpose
  const all = [...sources, ...files('docs', '.md'), 'README.md'];
  const problems = all.flatMap((f) => broken(readFileSync(path.join(ROOT, f), 'utf8'), known).map((p) => `${f}: ${p}`));
  expect(problems).toEqual([]);
});
