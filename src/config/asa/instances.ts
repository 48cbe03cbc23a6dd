/**
 * The phone-proxy instance and the named instances it points at: `media-termination`,
 * `tls-proxy` and `ctl-file`, each read into plain values with the lines they came from.
 */
import { hmsToSeconds, isIpv4, portNumber } from './addresses';
import type { Ledger } from './ledger';
import { type ConfigLine, startsWith } from './parse-config';

export type CtlFunction = 'cucm' | 'tftp' | 'cucm-tftp' | 'capf';

export interface AsaRecordEntry {
  function: CtlFunction;
  trustpoint: string;
  address: string;
  domainName?: string;
  node: ConfigLine;
}

export interface AsaCtlFile {
  name: string;
  records: AsaRecordEntry[];
  /** `cluster-ctl-file disk0:/file.tlv`: an existing cluster CTL whose trust it carries over. */
  clusterCtl?: { path: string; node: ConfigLine };
  node: ConfigLine;
}

export interface AsaMediaTermination {
  name: string;
  global?: string;
  perInterface: { interface: string; address: string }[];
  rtp?: { min: number; max: number };
  node: ConfigLine;
}

export interface AsaTlsProxy {
  name: string;
  serverTrustpoint?: { name: string; node: ConfigLine };
  ldcIssuer?: { name: string; node: ConfigLine };
  ldcKeyPair?: { label: string; node: ConfigLine };
  serverCiphers?: { suites: string[]; node: ConfigLine };
  node: ConfigLine;
}

export interface AsaPhoneProxy {
  name: string;
  node: ConfigLine;
  mediaTermination?: ConfigLine;
  /** 8.0-style `media-termination address A [interface I]` inside the phone-proxy itself. */
  inlineMedia: { interface?: string; address: string; node: ConfigLine }[];
  tftpServer?: { address: string; interface: string; port?: number; node: ConfigLine };
  tlsProxy?: ConfigLine;
  ctlFile?: ConfigLine;
  mode?: 'mixed' | 'nonsecure';
  securePhonesTimeout?: number;
  preserveServiceSettings?: boolean;
  cipc: boolean;
  proxyServer?: { address: string; port: number; interface: string; node: ConfigLine };
}

const FUNCTIONS = new Set<string>(['cucm', 'tftp', 'cucm-tftp', 'capf']);

function wordAfter(node: ConfigLine, keyword: string): string | undefined {
  const i = node.words.findIndex((w) => w.toLowerCase() === keyword);
  return i >= 0 ? node.words[i + 1] : undefined;
}

export function readCtlFile(node: ConfigLine, ledger: Ledger): AsaCtlFile {
  const ctl: AsaCtlFile = { name: node.words[1] ?? '', records: [], node };
  for (const c of node.children) {
    if (startsWith(c, 'record-entry')) {
      const fn = c.words[1]?.toLowerCase() ?? '';
      const trustpoint = wordAfter(c, 'trustpoint');
      const address = wordAfter(c, 'address');
      if (!FUNCTIONS.has(fn) || !trustpoint || !isIpv4(address)) {
        ledger.unmapped(
          c,
          'malformed: expected record-entry cucm|tftp|cucm-tftp|capf trustpoint NAME address A.B.C.D [domain-name NAME]',
        );
        continue;
      }
      const domainName = wordAfter(c, 'domain-name');
      ctl.records.push({
        function: fn as CtlFunction,
        trustpoint,
        address,
        node: c,
        ...(domainName && { domainName }),
      });
      ledger.use(c);
    } else if (startsWith(c, 'cluster-ctl-file') && c.words[1]) {
      ctl.clusterCtl = { path: c.words[1], node: c };
      ledger.use(c);
    } else if (startsWith(c, 'no', 'shutdown')) {
      ledger.use(c);
    } else if (startsWith(c, 'shutdown')) {
      ledger.use(c);
      ledger.warn(`ctl-file ${ctl.name} is shut down on the ASA; the appliance will serve it`, c);
    }
  }
  return ctl;
}

export function readMediaTermination(node: ConfigLine, ledger: Ledger): AsaMediaTermination {
  const mt: AsaMediaTermination = { name: node.words[1] ?? '', perInterface: [], node };
  for (const c of node.children) {
    if (startsWith(c, 'address')) {
      const address = c.words[1];
      const ifname = wordAfter(c, 'interface');
      const shape = c.words.length === 2 || (c.words.length === 4 && c.words[2]?.toLowerCase() === 'interface');
      if (!isIpv4(address) || !shape) {
        ledger.unmapped(c, 'malformed: expected address A.B.C.D [interface NAME]');
        continue;
      }
      if (ifname) mt.perInterface.push({ interface: ifname, address });
      else mt.global = address;
      ledger.use(c);
    } else if (startsWith(c, 'rtp-min-port')) {
      const min = portNumber(c.words[1]);
      const max = c.words[2]?.toLowerCase() === 'rtp-max-port' ? portNumber(c.words[3]) : undefined;
      if (min === undefined || max === undefined) {
        ledger.unmapped(c, 'malformed: expected rtp-min-port PORT rtp-max-port PORT');
        continue;
      }
      mt.rtp = { min, max };
      ledger.use(c);
    }
  }
  return mt;
}

export function readTlsProxy(node: ConfigLine, ledger: Ledger): AsaTlsProxy {
  const tls: AsaTlsProxy = { name: node.words[1] ?? '', node };
  for (const c of node.children) {
    if (startsWith(c, 'server', 'trust-point') && c.words[2]) {
      tls.serverTrustpoint = { name: c.words[2], node: c };
    } else if (startsWith(c, 'client', 'ldc', 'issuer') && c.words[3]) {
      tls.ldcIssuer = { name: c.words[3], node: c };
    } else if (
      (startsWith(c, 'client', 'ldc', 'key-pair') || startsWith(c, 'client', 'ldc', 'keypair')) &&
      c.words[3]
    ) {
      tls.ldcKeyPair = { label: c.words[3], node: c };
    } else if (startsWith(c, 'server', 'cipher-suite') && c.words.length > 2) {
      tls.serverCiphers = { suites: c.words.slice(2), node: c };
    } else if (startsWith(c, 'client', 'cipher-suite')) {
      ledger.unmapped(c, 'cipher suites toward Unified CM are not configurable; tls-proxy.ciphers is the phone side');
    }
  }
  return tls;
}

export function readPhoneProxy(node: ConfigLine, ledger: Ledger): AsaPhoneProxy {
  const pp: AsaPhoneProxy = { name: node.words[1] ?? '', node, inlineMedia: [], cipc: false };
  ledger.use(node);
  for (const c of node.children) {
    const w = c.words.map((x) => x.toLowerCase());
    if (w[0] === 'media-termination' && w[1] === 'address') {
      const address = c.words[2];
      const ifname = wordAfter(c, 'interface');
      if (!isIpv4(address)) {
        ledger.unmapped(c, 'malformed: expected media-termination address A.B.C.D [interface NAME]');
        continue;
      }
      pp.inlineMedia.push({ address, node: c, ...(ifname && { interface: ifname }) });
      ledger.use(c);
    } else if (w[0] === 'media-termination' && c.words[1]) {
      pp.mediaTermination = c;
    } else if (w[0] === 'tftp-server') {
      // tftp-server address A.B.C.D [PORT] interface NAME
      const address = c.words[2];
      const ifname = wordAfter(c, 'interface');
      const port = w[3] !== 'interface' ? portNumber(c.words[3]) : undefined;
      if (w[1] !== 'address' || !isIpv4(address) || !ifname || (w[3] !== 'interface' && port === undefined)) {
        ledger.unmapped(c, 'malformed: expected tftp-server address A.B.C.D [PORT] interface NAME');
        continue;
      }
      pp.tftpServer = { address, interface: ifname, node: c, ...(port !== undefined && { port }) };
      ledger.use(c);
    } else if (w[0] === 'tls-proxy' && c.words[1]) {
      pp.tlsProxy = c;
    } else if (w[0] === 'ctl-file' && c.words[1]) {
      pp.ctlFile = c;
    } else if (w[0] === 'cluster-mode') {
      if (w[1] !== 'mixed' && w[1] !== 'nonsecure') {
        ledger.unmapped(c, 'malformed: expected cluster-mode mixed|nonsecure');
        continue;
      }
      pp.mode = w[1];
      ledger.use(c);
    } else if (w[0] === 'timeout' && w[1] === 'secure-phones') {
      const seconds = hmsToSeconds(c.words[2]);
      if (!seconds) {
        ledger.unmapped(c, 'malformed: expected timeout secure-phones H:MM:SS (more than zero)');
        continue;
      }
      pp.securePhonesTimeout = seconds;
      ledger.use(c);
    } else if (w.join(' ') === 'disable service-settings' || w.join(' ') === 'no preserve-net-config') {
      pp.preserveServiceSettings = false;
      ledger.use(c);
    } else if (
      w.join(' ') === 'no disable service-settings' ||
      w[0] === 'preserve-net-config' ||
      w[0] === 'preserve-service-settings'
    ) {
      pp.preserveServiceSettings = true;
      ledger.use(c);
    } else if (w.join(' ') === 'cipc security-mode authenticated') {
      pp.cipc = true;
      ledger.use(c);
    } else if (w[0] === 'no' && w[1] === 'cipc') {
      pp.cipc = false;
      ledger.use(c);
    } else if (w[0] === 'proxy-server') {
      readProxyServer(pp, c, ledger);
    }
  }
  return pp;
}

/** `proxy-server uri [http://]A.B.C.D[:PORT] interface NAME` (the phones' HTTP proxy). */
function readProxyServer(pp: AsaPhoneProxy, c: ConfigLine, ledger: Ledger): void {
  const uri = wordAfter(c, 'uri');
  const ifname = wordAfter(c, 'interface');
  const m = uri?.match(/^(?:https?:\/\/)?([^:/]+)(?::(\d+))?\/?$/i);
  if (!m || !ifname) {
    ledger.unmapped(c, 'malformed: expected proxy-server uri HOST[:PORT] interface NAME');
    return;
  }
  const port = m[2] ? portNumber(m[2]) : 80;
  if (!isIpv4(m[1]) || port === undefined) {
    ledger.unmapped(c, 'the policy takes the HTTP proxy as an IPv4 address and port, not a host name');
    return;
  }
  pp.proxyServer = { address: m[1], port, interface: ifname, node: c };
  ledger.use(c);
}
