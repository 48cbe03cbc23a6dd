/**
 * What may import what: the product (src/, ctl/, wasm/) ships alone (tsconfig.build.json), so it
 * must not reach into lab/, bench/ or test/; bench/ uses test fixtures only through test/support/,
 * which in turn uses nothing else of test/, so a benchmark never drags jest test files in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

type Area = 'product' | 'lab' | 'bench' | 'support' | 'test' | 'other';

const ALLOWED: Record<Area, readonly Area[]> = {
  product: ['product'],
  lab: ['product', 'lab'],
  bench: ['product', 'bench', 'support'],
  support: ['product', 'support'],
  test: ['product', 'lab', 'bench', 'support', 'test'],
  other: [],
};

function areaOf(rel: string): Area {
  const [top, sub] = rel.split('/');
  if (top === 'src' || top === 'ctl' || top === 'wasm') return 'product';
  if (top === 'lab' || top === 'bench') return top;
  if (top === 'test') return sub === 'support' ? 'support' : 'test';
  return 'other';
}

/** Relative module specifiers of static imports/exports, require() and import() calls. */
function relativeImports(text: string): string[] {
  const noComments = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const re = /(?:\bfrom\s*|\bimport\s*|\brequire\s*\(\s*|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]*)['"]/g;
  return [...noComments.matchAll(re)].map((m) => m[1] as string);
}

/** The imports of file `rel` (path from the repository root) that its area may not use. */
function violations(rel: string, text: string): string[] {
  const from = areaOf(rel);
  return relativeImports(text)
    .map((spec) => ({ spec, to: path.relative(ROOT, path.resolve(ROOT, path.dirname(rel), spec)) }))
    .filter(({ to }) => !ALLOWED[from].includes(areaOf(to)))
    .map(({ spec, to }) => `${rel} (${from}) imports ${spec} → ${to} (${areaOf(to)})`);
}

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return rel === 'wasm/build' || e.name === 'node_modules' ? [] : tsFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

test('the checker flags a forbidden import and passes an allowed one', () => {
  expect(violations('src/tftp/x.ts', "import { a } from '../../lab/phones';")).toHaveLength(1);
  expect(violations('wasm/x.ts', "const m = require('../test/support/media-harness');")).toHaveLength(1);
  expect(violations('bench/x.ts', "import type { P } from '../test/tftp/peers';")).toHaveLength(1);
  expect(violations('test/support/x.ts', "export { h } from '../tls/harness';")).toHaveLength(1);
  expect(violations('lab/x.ts', "import { b } from '../bench/pps/relay';")).toHaveLength(1);
  expect(violations('bench/x.ts', "import { s } from '../test/support/sccp-samples';")).toEqual([]);
  expect(violations('lab/x.ts', "import { d } from '../src/daemon';\nimport { c } from '../ctl';")).toEqual([]);
  expect(violations('src/x.ts', "// see '../lab/demo'\nimport { y } from './y';")).toEqual([]);
});

test('src/, ctl/, wasm/, lab/, bench/ and test/support/ import only what they may', () => {
  const files = ['src', 'ctl', 'wasm', 'lab', 'bench', 'test'].flatMap(tsFiles);
  expect(files.length).toBeGreaterThan(100);
  expect(files.flatMap((f) => violations(f, readFileSync(path.join(ROOT, f), 'utf8')))).toEqual([]);
});
