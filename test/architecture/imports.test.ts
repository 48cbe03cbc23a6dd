/**
 * The boundaries of docs/architecture.md (README "Architecture"), checked on the import graph:
 * the graph is read with TypeScript's own pre-processor, so a rule broken in any file fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/** Project files a file imports (relative specifiers only), as repository paths without `.ts`. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(path.join(ROOT, file), 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith('.'))
    .map((s) => path.relative(ROOT, path.resolve(ROOT, path.dirname(file), s)));
}

const PRODUCT = [...sources('src'), ...sources('ctl'), ...sources('wasm')];
const graph = new Map(PRODUCT.map((f) => [f.replace(/\.ts$/, ''), importsOf(f)]));

/** Every import edge from a file under one of `from` to a module under one of `to`. */
function edges(from: string[], to: string[], allowed: string[] = []): string[] {
  const under = (m: string, dirs: string[]) => dirs.some((d) => m === d || m.startsWith(`${d}/`));
  const out: string[] = [];
  for (const [file, deps] of graph) {
    if (!under(file, from)) continue;
    for (const d of deps) if (under(d, to) && !under(d, allowed)) out.push(`${file} → ${d}`);
  }
  return out;
}

test('the graph was read (guards the rules below against an empty graph)', () => {
  expect(graph.size).toBeGreaterThan(50);
  expect(graph.get('src/appliance')).toEqual(expect.arrayContaining(['src/media/service', 'src/tls/service']));
});

test('SIP and SCCP inspection reach the TLS proxy and media termination only through src/contracts', () => {
  expect(edges(['src/sip', 'src/sccp'], ['src/tls', 'src/media', 'src/tftp', 'src/control'])).toEqual([]);
});

test('no service imports the control plane: the daemon registers their views', () => {
  expect(
    edges(
      [
        'src/media',
        'src/tftp',
        'src/tls',
        'src/pki',
        'src/sip',
        'src/sccp',
        'src/capture',
        'src/cluster',
        'src/capf',
        'src/contracts',
      ],
      ['src/control'],
    ),
  ).toEqual([]);
});

test('services do not import each other: the composition root (src/appliance.ts) wires them', () => {
  // src/cluster is infrastructure at service level: the daemon builds the Redis link and hands
  // it to services as the ClusterStore contract (src/contracts/cluster.ts), never as an import.
  const services = ['src/media', 'src/tftp', 'src/tls', 'src/pki', 'src/capture', 'src/cluster', 'src/capf'];
  const crossing = services.flatMap((s) =>
    edges(
      [s],
      services.filter((o) => o !== s),
      // Library calls into the PKI, not service lookups: the TLS proxy mints LDCs with its
      // issuer, the TFTP interceptor signs with the CTL's TFTP key.
      // The CAPF relay reuses the TLS proxy's admission bookkeeping (pure, no sockets).
      s === 'src/tls' || s === 'src/tftp'
        ? ['src/pki/ldc', 'src/pki/ctl-instance']
        : s === 'src/capf'
          ? ['src/tls/admission', 'src/tls/remote-addr']
          : [],
    ),
  );
  expect(crossing).toEqual([]);
});

test('contracts depend on nothing but other contracts and plain types', () => {
  expect(
    edges(['src/contracts'], ['src', 'ctl', 'wasm'], ['src/contracts', 'src/config', 'src/log', 'wasm/srtp']),
  ).toEqual([]);
});

test("the error catalogue sits at the bottom: src/errors.ts imports only the toolkit's branded base", () => {
  expect(graph.get('src/errors')).toEqual(['ctl/errors']);
});

test('the CTL toolkit and the WebAssembly binding stand alone', () => {
  expect(edges(['ctl'], ['src', 'wasm'])).toEqual([]);
  expect(edges(['wasm'], ['src', 'ctl'])).toEqual([]);
});

/** Strongly connected groups of more than one module (Tarjan), each as its sorted members. */
function importCircles(): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) circles.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return circles;
}

test('no import circles in the product', () => {
  expect(importCircles()).toEqual([]);
});
