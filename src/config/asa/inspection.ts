/**
 * The Modular Policy Framework stanzas that switch the phone proxy on (`class-map … match port`,
 * `policy-map … inspect sip|skinny phone-proxy NAME`, `service-policy`) and the access lists that
 * open the nonsecure signaling ports (LSC provisioning, CIPC registering in the clear) and CAPF
 * (tcp/3804, the CAPF relay). They give the policy its listener ports.
 */
import { isIpv4, portNumber } from './addresses';
import type { Ledger } from './ledger';
import { type ConfigLine, startsWith } from './parse-config';

export interface InspectedPorts {
  'sip-tls'?: number;
  'sccp-tls'?: number;
}

const NONSECURE_SCCP = 2000;
const NONSECURE_SIP = 5060;
const CAPF = 3804;

interface ClassMatch {
  ports: { protocol: string; port: number }[];
  defaultTraffic: boolean;
  node: ConfigLine;
}

function readClassMaps(commands: ConfigLine[], ledger: Ledger): Map<string, ClassMatch> {
  const classes = new Map<string, ClassMatch>();
  for (const node of commands) {
    if (!startsWith(node, 'class-map') || startsWith(node, 'class-map', 'type') || !node.words[1]) continue;
    const m: ClassMatch = { ports: [], defaultTraffic: false, node };
    for (const c of node.children) {
      const port = portNumber(c.words[4]);
      if (startsWith(c, 'match', 'port') && c.words[3]?.toLowerCase() === 'eq' && port !== undefined) {
        m.ports.push({ protocol: (c.words[2] ?? '').toLowerCase(), port });
      } else if (startsWith(c, 'match', 'default-inspection-traffic')) {
        m.defaultTraffic = true;
      } else if (startsWith(c, 'match', 'port')) {
        ledger.unmapped(c, 'port ranges are not mapped: the policy listens on one port per protocol');
      }
    }
    classes.set(node.words[1], m);
  }
  return classes;
}

/** Marks what enables phone proxy `proxyName` and returns the secure ports it inspects. */
export function mapInspection(commands: ConfigLine[], ledger: Ledger, proxyName: string): InspectedPorts {
  const classes = readClassMaps(commands, ledger);
  const ports: InspectedPorts = {};
  const enabling = new Set<string>();
  for (const pm of commands) {
    if (!startsWith(pm, 'policy-map') || startsWith(pm, 'policy-map', 'type') || !pm.words[1]) continue;
    for (const cls of pm.children) {
      if (!startsWith(cls, 'class')) continue;
      const match = classes.get(cls.words[1] ?? '');
      for (const ins of cls.children) {
        const engine = ins.words[1]?.toLowerCase();
        if (!startsWith(ins, 'inspect') || (engine !== 'sip' && engine !== 'skinny')) {
          if (startsWith(ins, 'police')) {
            ledger.unmapped(ins, 'TFTP policing is in bits/s; set tftp.rate-limit (requests/s) by hand');
          }
          continue;
        }
        const pp = ins.words.findIndex((w) => w.toLowerCase() === 'phone-proxy');
        if (pp < 0) continue;
        if (ins.words[pp + 1] !== proxyName) {
          ledger.warn(`inspect ${engine} names phone-proxy ${ins.words[pp + 1]}, which is not ${proxyName}`, ins);
          continue;
        }
        if (!match) {
          ledger.unmapped(ins, `class ${cls.words[1]} has no class-map in this file`);
          continue;
        }
        ledger.use(ins);
        ledger.use(cls);
        ledger.use(pm);
        enabling.add(pm.words[1]);
        ledger.use(match.node);
        for (const c of match.node.children) if (startsWith(c, 'match', 'default-inspection-traffic')) ledger.use(c);
        for (const { protocol, port } of match.ports) {
          const mc = match.node.children.find((c) => portNumber(c.words[4]) === port);
          if (protocol !== 'tcp') continue;
          if (mc) ledger.use(mc);
          // The nonsecure ports are default inspection traffic; only TLS ports become listeners.
          if (engine === 'skinny' && port !== NONSECURE_SCCP) ports['sccp-tls'] = port;
          if (engine === 'sip' && port !== NONSECURE_SIP) ports['sip-tls'] = port;
        }
      }
    }
  }
  for (const sp of commands) {
    if (startsWith(sp, 'service-policy') && enabling.has(sp.words[1] ?? '')) ledger.use(sp);
  }
  if (enabling.size === 0) {
    ledger.warn(`no policy-map inspects sip or skinny with phone-proxy ${proxyName}: the ASA was not using it`);
  }
  return ports;
}

export interface NonsecurePorts {
  sip?: number;
  sccp?: number;
  /**
   * `permit tcp … eq 3804`: phones reach CAPF (LSC enrolment). The caller maps it to the CAPF
   * relay (listen.capf) and marks the line, or reports it when the relay cannot be built.
   */
  capf?: { port: number; host?: string; node: ConfigLine };
}

export interface AclContext {
  outsideInterfaces: Set<string>;
  /** Is this destination (words after the protocol and source) a Unified CM or the appliance? */
  reachesUcm: (destination: string[]) => boolean;
}

/** Reads `SRC` or `DST` (any | any4 | host A | A MASK | interface I | object O | object-group G). */
function addressSpec(words: string[], at: number): number {
  const w = words[at]?.toLowerCase();
  if (w === 'any' || w === 'any4') return at + 1;
  if (w === 'host' || w === 'interface' || w === 'object' || w === 'object-group') return at + 2;
  if (isIpv4(words[at])) return at + 2;
  return -1;
}

/** `access-list … permit tcp any host UCM eq 2000` on an outside interface → the nonsecure listeners. */
export function mapAccessLists(commands: ConfigLine[], ledger: Ledger, ctx: AclContext): NonsecurePorts {
  const outsideAcls = new Map<string, ConfigLine>();
  for (const node of commands) {
    if (startsWith(node, 'access-group') && node.words[2] === 'in' && ctx.outsideInterfaces.has(node.words[4] ?? '')) {
      if (node.words[1]) outsideAcls.set(node.words[1], node);
    }
  }
  const out: NonsecurePorts = {};
  const usedAcls = new Set<string>();
  for (const node of commands) {
    if (!startsWith(node, 'access-list') || !outsideAcls.has(node.words[1] ?? '')) continue;
    if (!startsWith(node, 'access-list', node.words[1] ?? '', 'extended', 'permit')) continue;
    const protocol = node.words[4]?.toLowerCase();
    const dst = addressSpec(node.words, 5);
    const end = dst < 0 ? -1 : addressSpec(node.words, dst);
    if (end < 0 || node.words[end]?.toLowerCase() !== 'eq') continue;
    const port = portNumber(node.words[end + 1]);
    if (port === undefined || !ctx.reachesUcm(node.words.slice(dst, end))) continue;
    const name = node.words[1] as string;
    if (protocol === 'tcp' && port === NONSECURE_SCCP) out.sccp = port;
    else if (protocol === 'tcp' && port === NONSECURE_SIP) out.sip = port;
    else if (protocol === 'tcp' && port === CAPF) {
      const dest = node.words.slice(dst, end);
      out.capf = { port, node, ...(dest[0]?.toLowerCase() === 'host' && dest[1] ? { host: dest[1] } : {}) };
      continue;
    } else if (!((protocol === 'udp' && port === 69) || (protocol === 'tcp' && (port === 2443 || port === 5061)))) {
      continue;
    }
    // TFTP and the TLS ports are always open on the appliance: the line is covered, not lost.
    ledger.use(node);
    usedAcls.add(name);
  }
  for (const name of usedAcls) {
    const group = outsideAcls.get(name);
    if (group) ledger.use(group);
  }
  return out;
}
