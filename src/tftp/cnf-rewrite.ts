/**
 * Rewrites a UCM `SEP<MAC>.cnf.xml` so the phone becomes a secure phone talking to the appliance
 * (docs/cnf-xml.md §4; ASA phone proxy guide, docs/references.md). Pure: text in, text out. Values
 * are edited in place at the offsets the scanner found; every other byte stays as UCM wrote it. Pass the file
 * decoded as latin1 (one char per byte) and encode the result the same way for exact bytes.
 *
 * What changes:
 *  - deviceSecurityMode → 3 (encrypted), or 2 for CIPC when the policy says `cipc: authenticated`;
 *  - transportLayerProtocol → 3 (TLS); inserted for SIP phones when absent;
 *  - each callManagerGroup member: processNodeName → the appliance's address, securedSipPort → the
 *    appliance's SIP-TLS port, ethernetPhonePort → SCCP-TLS port − 443 (a secure SCCP phone connects
 *    to ethernetPhonePort + 443, Secure SRST example in docs/references.md);
 *    (a member the policy maps to its own appliance address, by its UCM address or name, gets that one);
 *  - loadServer / tftpServer* → the appliance's address when set;
 *  - srstInfo: disabled and its addresses emptied (default), kept, or pointed at an outside SRST;
 *  - TVS members: removed (default), kept, or replaced by one outside TVS (docs/cnf-xml.md §4 item 10);
 *  - capfList entries → the appliance's CAPF relay, when the policy opens one (listen.capf);
 *  - service URLs and portalDefaultServer: only where a policy prefix maps them;
 *  - unless preserve-net-config: pcPort, spanToPCPort, webAccess, garp, voiceVlanAccess → 1 (disabled);
 *  - proxyServerURL → the policy's proxy server, when one is configured.
 * What is refused (CnfParseError, the ASA's "configuration file parsing error"): malformed XML, a root
 * other than <device>, encrConfig=true (the full config is encrypted to the phone's key), unknown
 * deviceSecurityMode values.
 */
import { CnfParseError } from '../errors';
import type { SecurityMode } from './secure-phones';
import { escapeXml, leafText, positionOf, scanXml, walk, type XmlDocument, type XmlElement } from './xml-scan';

export interface CnfRewriteOptions {
  /** The appliance address the phone reached (outside interface address). */
  applianceAddress: string;
  /** Port the appliance accepts SIP over TLS on (policy listen.sip-tls). */
  sipTlsPort: number;
  /** Port the appliance accepts SCCP over TLS on (policy listen.sccp-tls). */
  sccpTlsPort: number;
  /** `cipc: { security-mode: authenticated }` in the policy. */
  cipcAuthenticated?: boolean;
  /** True unless the policy sets preserve-net-config. */
  disableServiceSettings: boolean;
  /** Written into proxyServerURL, e.g. `192.0.2.8:3128`. */
  proxyServer?: string;
  /** UCM members with their own appliance address (matched on processNodeName, lower case). */
  members?: { match: string[]; address: string }[];
  /** Default `disable`: a remote phone cannot reach an inside SRST router. */
  srst?: 'disable' | 'keep' | { address: string };
  /** Default `remove`: an inside TVS is unreachable, and the appliance's CTL is the trust anchor. */
  tvs?: 'remove' | 'keep' | { address: string; port: number };
  /**
   * The CAPF relay phones enrol through (listen.capf, docs/capf.md): every capfList entry's
   * processNodeName and phonePort point there. Absent: capfList is left as UCM wrote it.
   */
  capf?: { address: string; port: number };
  /** Prefix maps for service URLs; the first `from` that matches at a boundary wins. */
  serviceUrls?: { from: string; to: string }[];
}

export interface CnfRewriteResult {
  xml: string;
  /** The security mode UCM gave the phone (before the rewrite). */
  deviceSecurityMode: SecurityMode;
  forcedMode: 'authenticated' | 'encrypted';
  protocol: 'sip' | 'sccp' | undefined;
  isCipc: boolean;
  /** One line per edit: `deviceSecurityMode 1 -> 3 (line 268)`. */
  changes: string[];
}

const MODE_BY_VALUE: Record<string, SecurityMode> = {
  '': 'nonsecure',
  '1': 'nonsecure',
  '2': 'authenticated',
  '3': 'encrypted',
};
const SERVICE_SETTINGS = new Set(['pcPort', 'spanToPCPort', 'webAccess', 'garp', 'voiceVlanAccess']);
/** srstInfo's address slots: SCCP (ipAddrN) and SIP (sipIpAddrN, sipIpV6AddrN). */
const SRST_ADDRESS = /^(ipAddr|sipIpAddr|sipIpV6Addr)\d$/;
/** Elements holding an HTTP service location (docs/cnf-xml.md §1.5); proxyServerURL has its own rule. */
const isServiceUrl = (name: string) =>
  (name.endsWith('URL') && name !== 'proxyServerURL') || name === 'portalDefaultServer';
/** The SCCP TLS port is the SCCP port + 443 (Secure SRST example, docs/references.md). */
const SCCP_TLS_OFFSET = 443;

interface Edit {
  start: number;
  end: number;
  text: string;
}

export function rewriteCnf(xml: string, opts: CnfRewriteOptions): CnfRewriteResult {
  const doc = scanXml(xml);
  const root = doc.root;
  const failAt = (reason: string, at: number): never => {
    const { line, column } = positionOf(xml, at);
    throw new CnfParseError(reason, line, column, at);
  };
  if (root.name !== 'device') failAt(`root element is <${root.name}>, expected <device>`, root.start);
  if (root.selfClosing) failAt('<device> is empty', root.start);

  const edits: Edit[] = [];
  const changes: string[] = [];
  const lineOf = (at: number) => positionOf(xml, at).line;

  const setLeaf = (el: XmlElement, value: string, label = el.name) => {
    if (el.children.length > 0) failAt(`<${el.name}> has child elements where a value was expected`, el.start);
    const old = el.selfClosing ? '' : leafText(doc, el);
    if (old === value) return;
    const text = escapeXml(value);
    if (el.selfClosing) edits.push({ start: el.start, end: el.end, text: `<${el.name}>${text}</${el.name}>` });
    else edits.push({ start: el.contentStart, end: el.contentEnd, text });
    changes.push(`${label} ${old === '' ? '(empty)' : old} -> ${value} (line ${lineOf(el.start)})`);
  };
  const childrenNamed = (el: XmlElement, name: string) => el.children.filter((c) => c.name === name);
  const all = [...walk(root)];
  const named = (name: string) => all.filter((e) => e.name === name);

  // Encrypted configuration: the real settings are in .enc.sgn, wrapped to the phone's key.
  for (const e of named('encrConfig')) {
    if (leafText(doc, e).toLowerCase() === 'true') {
      failAt(
        'encrConfig is true: UCM encrypts this phone\'s configuration ("TFTP Encrypted Config"), which the proxy cannot rewrite',
        e.start,
      );
    }
  }

  const protoEl = childrenNamed(root, 'deviceProtocol')[0];
  const protoText = protoEl ? leafText(doc, protoEl).toUpperCase() : '';
  // Hand-made files may omit deviceProtocol: a sipProfile means SIP, an SCCP port means SCCP.
  const protocol =
    protoText === 'SIP' || (!protoEl && named('sipProfile').length > 0)
      ? 'sip'
      : protoText === 'SCCP' || (!protoEl && named('ethernetPhonePort').length > 0)
        ? 'sccp'
        : undefined;

  const load = named('loadInformation')[0];
  const isCipc = load !== undefined && /^CIPC/i.test(leafText(doc, load));
  const forcedMode = isCipc && opts.cipcAuthenticated ? 'authenticated' : 'encrypted';
  const forcedValue = forcedMode === 'encrypted' ? '3' : '2';

  // Security mode.
  // Anywhere in the file, not only under <device>: no copy of the element may stay non-secure.
  const modeEls = named('deviceSecurityMode');
  let original: SecurityMode = 'nonsecure';
  const firstMode = modeEls[0];
  if (firstMode) {
    const v = leafText(doc, firstMode);
    const m = MODE_BY_VALUE[v];
    if (!m) failAt(`deviceSecurityMode has unexpected value "${v}" (expected 1, 2 or 3)`, firstMode.contentStart);
    original = m as SecurityMode;
  }
  for (const e of modeEls) setLeaf(e, forcedValue);

  // Transport: TLS.
  const transportEls = named('transportLayerProtocol');
  for (const e of transportEls) setLeaf(e, '3');

  // Elements to add when absent: after deviceSecurityMode if present, else before </device>.
  const inserts: string[] = [];
  if (modeEls.length === 0) {
    inserts.push(`<deviceSecurityMode>${forcedValue}</deviceSecurityMode>`);
    changes.push(`deviceSecurityMode (absent) -> ${forcedValue} (inserted)`);
  }
  if (transportEls.length === 0 && protocol === 'sip') {
    inserts.push('<transportLayerProtocol>3</transportLayerProtocol>');
    changes.push('transportLayerProtocol (absent) -> 3 (inserted)');
  }

  // Call-control members: the phone connects to the appliance on its TLS ports.
  const sccpPort = opts.sccpTlsPort - SCCP_TLS_OFFSET;
  for (const cm of named('callManager')) {
    if (cm.parent?.name !== 'member') continue;
    for (const pn of childrenNamed(cm, 'processNodeName')) {
      const ucm = leafText(doc, pn).trim().toLowerCase();
      const mapped = opts.members?.find((m) => m.match.includes(ucm))?.address;
      setLeaf(pn, mapped ?? opts.applianceAddress, 'callManager/processNodeName');
    }
    for (const ports of childrenNamed(cm, 'ports')) {
      for (const p of childrenNamed(ports, 'securedSipPort'))
        setLeaf(p, String(opts.sipTlsPort), 'callManager/ports/securedSipPort');
      for (const p of childrenNamed(ports, 'ethernetPhonePort')) {
        if (sccpPort < 1)
          failAt(`SCCP TLS port ${opts.sccpTlsPort} is below 444: no ethernetPhonePort maps to it`, p.start);
        setLeaf(p, String(sccpPort), 'callManager/ports/ethernetPhonePort');
      }
      if (protocol === 'sip' && childrenNamed(ports, 'securedSipPort').length === 0 && !ports.selfClosing) {
        edits.push({
          start: ports.contentEnd,
          end: ports.contentEnd,
          text: `<securedSipPort>${opts.sipTlsPort}</securedSipPort>`,
        });
        changes.push(
          `callManager/ports/securedSipPort (absent) -> ${opts.sipTlsPort} (inserted, line ${lineOf(ports.start)})`,
        );
      }
    }
  }

  // Firmware / TFTP servers named in the file: through the appliance too.
  for (const e of all) {
    if (e.name === 'loadServer' || /^tftpServer\d*$/.test(e.name)) {
      if (e.children.length === 0 && !e.selfClosing && leafText(doc, e) !== '') setLeaf(e, opts.applianceAddress);
    }
  }

  // SRST: an inside fallback router is unreachable from outside; a phone that tried it would
  // sit unregistered until it gave up, so it is disabled unless the policy names an outside one.
  const srst = opts.srst ?? 'disable';
  if (srst !== 'keep') {
    for (const info of named('srstInfo')) {
      for (const c of info.children) {
        if (c.children.length > 0) continue;
        if (c.name === 'srstOption')
          setLeaf(c, srst === 'disable' ? 'Disable' : 'User Specific', 'srstInfo/srstOption');
        const slot = SRST_ADDRESS.exec(c.name);
        if (!slot) continue;
        // An outside SRST takes the first IPv4 slot of each protocol; the others are emptied.
        const first = c.name === 'ipAddr1' || c.name === 'sipIpAddr1';
        setLeaf(c, srst !== 'disable' && first ? srst.address : '', `srstInfo/${c.name}`);
      }
    }
  }

  // TVS: its members are inside and unreachable; the phone verifies against the appliance's CTL.
  const tvs = opts.tvs ?? 'remove';
  if (tvs !== 'keep') {
    for (const t of named('TVS')) {
      for (const members of childrenNamed(t, 'members')) {
        childrenNamed(members, 'member').forEach((m, n) => {
          if (tvs !== 'remove' && n === 0) {
            for (const a of childrenNamed(m, 'address')) setLeaf(a, tvs.address, 'TVS/member/address');
            for (const p of childrenNamed(m, 'port')) setLeaf(p, String(tvs.port), 'TVS/member/port');
            return;
          }
          edits.push(removal(doc, m));
          changes.push(`TVS/member removed (line ${lineOf(m.start)})`);
        });
      }
    }
  }

  // CAPF: an inside CAPF is unreachable from outside; with the relay on, the phone enrols through it.
  if (opts.capf) {
    for (const list of named('capfList')) {
      for (const c of childrenNamed(list, 'capf')) {
        for (const e of childrenNamed(c, 'processNodeName'))
          setLeaf(e, opts.capf.address, 'capfList/capf/processNodeName');
        for (const e of childrenNamed(c, 'phonePort')) setLeaf(e, String(opts.capf.port), 'capfList/capf/phonePort');
      }
    }
  }

  // Service URLs stay as UCM wrote them (often names the phone resolves itself) unless mapped.
  for (const e of all) {
    if (!opts.serviceUrls?.length || !isServiceUrl(e.name) || e.children.length > 0 || e.selfClosing) continue;
    const value = leafText(doc, e);
    const map = opts.serviceUrls.find((m) => startsAtBoundary(value, m.from));
    if (map) setLeaf(e, map.to + value.slice(map.from.length));
  }

  if (opts.disableServiceSettings) {
    for (const e of all) if (SERVICE_SETTINGS.has(e.name) && e.children.length === 0) setLeaf(e, '1');
  }

  if (opts.proxyServer) {
    const px = childrenNamed(root, 'proxyServerURL');
    for (const e of px) setLeaf(e, opts.proxyServer);
    if (px.length === 0) {
      inserts.push(`<proxyServerURL>${escapeXml(opts.proxyServer)}</proxyServerURL>`);
      changes.push(`proxyServerURL (absent) -> ${opts.proxyServer} (inserted)`);
    }
  }

  if (inserts.length > 0) edits.push(insertion(doc, firstMode, inserts));

  return { xml: applyEdits(xml, edits), deviceSecurityMode: original, forcedMode, protocol, isCipc, changes };
}

/** New elements go after `anchor` (same indentation), or on their own lines before </device>. */
function insertion(doc: XmlDocument, anchor: XmlElement | undefined, elements: string[]): Edit {
  const text = doc.text;
  const root = doc.root;
  const indentOf = (el: XmlElement) => {
    const ls = text.lastIndexOf('\n', el.start - 1) + 1;
    const pre = text.slice(ls, el.start);
    return /^[ \t]*$/.test(pre) ? pre : undefined;
  };
  const nl = text.includes('\r\n') ? '\r\n' : '\n';
  if (anchor) {
    const indent = indentOf(anchor);
    const sep = indent === undefined ? '' : `${nl}${indent}`;
    return { start: anchor.end, end: anchor.end, text: elements.map((e) => `${sep}${e}`).join('') };
  }
  const first = root.children[0];
  const indent = first ? indentOf(first) : undefined;
  const closeIndent = indentOf({ ...root, start: root.contentEnd });
  if (indent !== undefined && closeIndent !== undefined) {
    // Insert whole lines before the line holding </device>.
    const at = root.contentEnd - closeIndent.length;
    return { start: at, end: at, text: elements.map((e) => `${indent}${e}${nl}`).join('') };
  }
  return { start: root.contentEnd, end: root.contentEnd, text: elements.join('') };
}

/** `prefix` starts `value` and ends at a URL or host boundary (so 10.0.0.1 does not match 10.0.0.10). */
function startsAtBoundary(value: string, prefix: string): boolean {
  if (!value.startsWith(prefix)) return false;
  const next = value.charAt(prefix.length);
  return next === '' || /[/:?#]$/.test(prefix) || /[/:?#]/.test(next);
}

/** Removes an element and the whitespace that indented it, so no blank line is left behind. */
function removal(doc: XmlDocument, el: XmlElement): Edit {
  const lineStart = doc.text.lastIndexOf('\n', el.start - 1) + 1;
  const indentOnly = /^[ \t]*$/.test(doc.text.slice(lineStart, el.start));
  const start = indentOnly && lineStart > 0 ? lineStart - (doc.text[lineStart - 2] === '\r' ? 2 : 1) : el.start;
  return { start, end: el.end, text: '' };
}

function applyEdits(text: string, edits: Edit[]): string {
  // Stable for equal offsets: insertions at one point keep the order they were added in.
  const sorted = edits.map((e, i) => ({ ...e, i })).sort((a, b) => a.start - b.start || a.i - b.i);
  let out = '';
  let at = 0;
  for (const e of sorted) {
    out += text.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + text.slice(at);
}
