/**
 * A minimal DER reader written from X.690 for tests: neither forge nor our own ctl/ code, so a
 * test can check what bytes a certificate really holds.
 */
export interface DerNode {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  valueStart: number;
  end: number;
}

export function derNode(buf: Buffer, at: number): DerNode {
  const tag = buf[at] as number;
  let len = buf[at + 1] as number;
  let valueStart = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[at + 2 + i] as number);
    valueStart += n;
  }
  const end = valueStart + len;
  if (end > buf.length) throw new Error(`DER item at ${at} runs past the buffer`);
  return { tag, start: at, valueStart, end };
}

export function derChildren(buf: Buffer, parent: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let at = parent.valueStart; at < parent.end; ) {
    const n = derNode(buf, at);
    out.push(n);
    at = n.end;
  }
  return out;
}

const OID_SHORT: Record<string, string> = {
  '550403': 'CN',
  '55040b': 'OU',
  '55040a': 'O',
  '550407': 'L',
  '550408': 'ST',
  '550406': 'C',
};

export interface NameAttribute {
  type: string;
  /** The tag byte of the attribute value: 0x0C UTF8String, 0x13 PrintableString, … */
  tag: number;
  value: string;
}

function nameNode(cert: Buffer, which: 'issuer' | 'subject'): DerNode {
  const [tbs] = derChildren(cert, derNode(cert, 0));
  if (!tbs) throw new Error('no tbsCertificate');
  const fields = derChildren(cert, tbs);
  const base = fields[0]?.tag === 0xa0 ? 1 : 0; // version [0] EXPLICIT
  const name = fields[base + (which === 'issuer' ? 2 : 4)];
  if (!name) throw new Error(`no ${which}`);
  return name;
}

/** The whole Name, tag and length included. */
export function nameBytes(cert: Buffer, which: 'issuer' | 'subject'): Buffer {
  const n = nameNode(cert, which);
  return cert.subarray(n.start, n.end);
}

/** Certificate → tbsCertificate → issuer or subject Name → each AttributeTypeAndValue. */
export function nameAttributes(cert: Buffer, which: 'issuer' | 'subject'): NameAttribute[] {
  const name = nameNode(cert, which);
  return derChildren(cert, name).flatMap((rdn) =>
    derChildren(cert, rdn).map((atv) => {
      const [oid, value] = derChildren(cert, atv);
      if (!oid || !value) throw new Error('short AttributeTypeAndValue');
      const oidHex = cert.subarray(oid.valueStart, oid.end).toString('hex');
      return {
        type: OID_SHORT[oidHex] ?? oidHex,
        tag: value.tag,
        value: cert.subarray(value.valueStart, value.end).toString('utf8'),
      };
    }),
  );
}

export const UTF8_STRING = 0x0c;
export const PRINTABLE_STRING = 0x13;
