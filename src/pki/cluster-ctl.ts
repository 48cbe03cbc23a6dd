/**
 * The cluster's one CTL (docs/cluster.md §3): every node publishes the records its own policy
 * gives (its TFTP/CCM functions at its own outside addresses), and every node builds the same
 * file from the union: SAST records (shared trust) first, then the nodes' records in node-name
 * order, duplicates once, stamped with the newest record set's time. Same inputs, same signer
 * (PKCS#1 v1.5 signatures are deterministic): the same bytes on every node. Pure.
 */
import { X509Certificate } from 'node:crypto';
import { CTL_FUNCTIONS, type CtlFunction, type CtlRecordInput } from '../../ctl';

/** One record as a node publishes it: the certificate as base64 DER (one spelling for all nodes). */
export interface PublishedRecord {
  function: CtlFunction;
  der: string;
  ip?: string;
  dnsName?: string;
}

export interface NodeRecordSet {
  node: string;
  /** Unix seconds the set last changed: the CTL's timestamp is the newest of them. */
  at: number;
  records: PublishedRecord[];
}

/** The non-SAST records of this node's CTL, as published (a carried record without certificate stays out). */
export function publishedRecords(inputs: CtlRecordInput[]): PublishedRecord[] {
  const out: PublishedRecord[] = [];
  for (const r of inputs) {
    if ('carry' in r) {
      const fn = r.carry.function;
      if (fn === 'unknown' || fn === 'sast' || !r.carry.certificate) continue;
      out.push(rec(fn, r.carry.certificate.toString('base64'), r.carry.ip, r.carry.dnsName));
    } else if (r.function !== 'sast') {
      out.push(rec(r.function, new X509Certificate(r.certificate).raw.toString('base64'), r.ip, r.dnsName));
    }
  }
  return out;
}

function rec(fn: CtlFunction, der: string, ip?: string, dnsName?: string): PublishedRecord {
  return { function: fn, der, ...(ip !== undefined ? { ip } : {}), ...(dnsName !== undefined ? { dnsName } : {}) };
}

export function sameRecords(a: PublishedRecord[], b: PublishedRecord[]): boolean {
  return JSON.stringify(a.map(recordKey)) === JSON.stringify(b.map(recordKey));
}

const recordKey = (r: PublishedRecord) => `${r.function}|${r.ip ?? ''}|${r.dnsName ?? ''}|${r.der}`;

/** Parses one node's set as read from Redis; undefined when it is not one. */
export function parseRecordSet(text: string): NodeRecordSet | undefined {
  try {
    const v = JSON.parse(text) as NodeRecordSet;
    if (typeof v?.node !== 'string' || typeof v.at !== 'number' || !Array.isArray(v.records)) return undefined;
    const ok = v.records.every(
      (r) => typeof r?.der === 'string' && r.function in CTL_FUNCTIONS && r.function !== 'sast',
    );
    return ok ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The union of every node's records after the SAST records, and the CTL's timestamp. */
export function unionCtl(
  sast: CtlRecordInput[],
  sets: NodeRecordSet[],
): { records: CtlRecordInput[]; timestamp: number; nodes: string[] } {
  const ordered = [...sets].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const seen = new Set<string>();
  const records: CtlRecordInput[] = [...sast];
  for (const s of ordered) {
    for (const r of s.records) {
      const k = recordKey(r);
      if (seen.has(k)) continue;
      seen.add(k);
      records.push({ function: r.function, certificate: Buffer.from(r.der, 'base64'), ip: r.ip, dnsName: r.dnsName });
    }
  }
  return { records, timestamp: Math.max(0, ...ordered.map((s) => s.at)), nodes: ordered.map((s) => s.node) };
}
