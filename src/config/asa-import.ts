/**
 * ASA running-config → appliance policy (issue 15). Pure: the text in; the policy, the lines
 * it could not map (with line numbers and why) and warnings out. The modules under asa/ read
 * one family of commands each; this one joins them the way the ASA does (phone-proxy → its
 * named instances → trustpoints → NAT for the servers behind the CTL records).
 * docs/asa-import.md says what maps to what.
 */
import { stringify } from 'yaml';
import type { z } from 'zod';
import { AsaImportError } from '../errors';
import { type AsaCrypto, type AsaTrustpoint, mapCrypto } from './asa/crypto';
import { mapAccessLists, mapInspection, type NonsecurePorts } from './asa/inspection';
import {
  type AsaCtlFile,
  type AsaMediaTermination,
  type AsaPhoneProxy,
  type AsaTlsProxy,
  readCtlFile,
  readMediaTermination,
  readPhoneProxy,
  readTlsProxy,
} from './asa/instances';
import { type AsaInterface, interfaceFor, mapInterfaces } from './asa/interfaces';
import { type ImportWarning, Ledger, type UnmappedLine } from './asa/ledger';
import { type AsaNat, mapNat, UCM_PORTS } from './asa/nat';
import { type ConfigLine, parseAsaConfig, startsWith } from './asa/parse-config';
import type { PolicySchema } from './policy-schema';

export type PolicyInput = z.input<typeof PolicySchema>;
type TrustpointInput = PolicyInput['trustpoints'][number];
type MemberInput = PolicyInput['cluster']['members'][number];

export type { ImportWarning, UnmappedLine } from './asa/ledger';

export interface ImportedCertificate {
  trustpoint: string;
  /** Where the policy expects it, relative to the policy file. */
  file: string;
  pem: string;
}

export interface AsaImport {
  policy: PolicyInput;
  unmapped: UnmappedLine[];
  warnings: ImportWarning[];
  /** Certificates the running-config carried (`crypto ca certificate chain`), to write next to the policy. */
  certificates: ImportedCertificate[];
}

const KEY_SIZES = [2048, 3072, 4096] as const;
const SUBJECT_KEYS = new Set(['CN', 'OU', 'O', 'L', 'ST', 'C', 'E']);
/** Trustpoints the ASA makes itself for a ctl-file: the phone-proxy identity and the SAST signers. */
const INTERNAL_PP = /^_internal_PP_(.+)$/;
const INTERNAL_SAST = /^_internal_(.+)_SAST_(\d+)$/;
/** Names admins give imported Unified CM certificates (CallManager.pem). */
const UCM_CERT_NAME = /cucm|callmanager|ccm/i;

/** Why a line nobody used is not in the policy. */
const TOP_LEVEL_REASONS: [string[], string][] = [
  [['access-list'], 'firewall rule: the appliance is not a firewall (filter in front of it or on the host)'],
  [['access-group'], 'firewall rule: the appliance is not a firewall (filter in front of it or on the host)'],
  [['object', 'network'], 'network object not used to find a Unified CM behind a CTL record'],
  [['object-group'], 'object group: the appliance has no firewall rules'],
  [['nat'], 'NAT: the appliance does not translate addresses'],
  [['route'], 'static route: the appliance uses the host routing table'],
  [['tftp-server'], "the ASA's own backup TFTP target, not the phone proxy's (that is phone-proxy > tftp-server)"],
  [['ssl', 'encryption'], 'phone-side TLS suites are tls-proxy.ciphers / legacy-phones; null-sha1 has no counterpart'],
  [['icmp'], 'ICMP to the appliance (and its media-termination addresses): filter on the host'],
  [['dns'], 'DNS: the appliance uses the host resolver'],
  [['logging'], 'ASA logging: the appliance logs as JSON (logging.level)'],
  [['crypto', 'ca', 'server'], 'ASA local CA server: not used as the LDC issuer here'],
  [['crypto', 'ca', 'trustpoint'], 'trustpoint not used by the phone proxy'],
  [['media-termination'], 'media-termination not used by the phone-proxy'],
  [['tls-proxy'], 'tls-proxy not used by the phone-proxy'],
  [['ctl-file'], 'ctl-file not used by the phone-proxy'],
  [['phone-proxy'], 'a second phone-proxy: the ASA allows one and so does the policy'],
  [['class-map'], 'class-map not used to inspect with the phone proxy'],
  [['policy-map'], 'policy-map not used to inspect with the phone proxy'],
  [['service-policy'], 'service-policy not applying phone-proxy inspection'],
];

function defaultReason(node: ConfigLine, parent?: ConfigLine): string {
  if (parent) {
    const p = parent.words[0]?.toLowerCase() ?? '';
    if (['phone-proxy', 'media-termination', 'tls-proxy', 'ctl-file'].includes(p)) {
      return `${p} sub-command with no counterpart in the policy`;
    }
    if (startsWith(parent, 'crypto', 'ca', 'trustpoint')) return 'trustpoint setting with no counterpart in the policy';
    if (startsWith(parent, 'class')) return 'inspection other than the phone proxy: the appliance only proxies phones';
    if (startsWith(node, 'description')) return 'description (a comment)';
    return 'sub-command with no counterpart in the policy';
  }
  if (/^cryptochecksum:/i.test(node.text)) return 'checksum of the saved ASA configuration';
  for (const [prefix, reason] of TOP_LEVEL_REASONS) if (startsWith(node, ...prefix)) return reason;
  return 'not phone-proxy configuration: no counterpart in the policy';
}

/** Policy names are 1-64 of [A-Za-z0-9_.-]; the ASA is laxer. */
function policyName(asaName: string, what: string, ledger: Ledger, node?: ConfigLine): string {
  const clean = asaName.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'unnamed';
  if (clean !== asaName)
    ledger.warn(`${what} "${asaName}" renamed "${clean}" (policy names are letters, digits, _ . -)`, node);
  return clean;
}

function keySize(bits: number | undefined, what: string, ledger: Ledger, node?: ConfigLine): 2048 | 3072 | 4096 {
  if (bits === undefined) return 2048;
  const size = KEY_SIZES.find((s) => s >= bits) ?? 4096;
  if (size !== bits)
    ledger.warn(`${what}: ${bits}-bit RSA key becomes ${size} bits (the policy allows 2048, 3072, 4096)`, node);
  return size;
}

/** Keeps the attributes the appliance's certificate writer knows (CN, OU, O, L, ST, C, E). */
function cleanSubject(subject: string, what: string, ledger: Ledger, node?: ConfigLine): string | undefined {
  const parts = subject
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const kept = parts.filter((p) => SUBJECT_KEYS.has(p.slice(0, p.indexOf('=')).trim().toUpperCase()));
  if (kept.length < parts.length) {
    const dropped = parts.filter((p) => !kept.includes(p));
    ledger.warn(`${what}: subject attributes ${dropped.join(', ')} dropped (allowed: CN, OU, O, L, ST, C, E)`, node);
  }
  return kept.length > 0 ? kept.join(',') : undefined;
}

/** Exactly one top-level `KIND NAME`; a reference to a missing one is a problem at the referring line. */
function findInstance(
  commands: ConfigLine[],
  kind: string,
  ref: ConfigLine,
  problems: string[],
): ConfigLine | undefined {
  const name = ref.words[1];
  const found = commands.filter((c) => startsWith(c, kind) && c.words[1] === name && c.words.length === 2);
  if (found.length === 0) {
    problems.push(`line ${ref.line}: phone-proxy refers to ${kind} ${name}, which this file does not define`);
    return undefined;
  }
  return found[found.length - 1];
}

interface Context {
  commands: ConfigLine[];
  ledger: Ledger;
  interfaces: AsaInterface[];
  crypto: AsaCrypto;
  nat: AsaNat;
}

function mediaTermination(pp: AsaPhoneProxy, mt: AsaMediaTermination | undefined, ledger: Ledger) {
  const perInterface = [...(mt?.perInterface ?? []), ...pp.inlineMedia.filter((m) => m.interface)];
  const global = mt?.global ?? pp.inlineMedia.find((m) => !m.interface)?.address;
  const out: PolicyInput['media-termination'] = {};
  if (mt) out.name = policyName(mt.name, 'media-termination', ledger, mt.node);
  if (global) out.address = global;
  if (perInterface.length > 0) {
    out.addresses = perInterface.map((m) => ({ interface: m.interface as string, address: m.address }));
  }
  if (mt?.rtp) {
    out['rtp-min-port'] = mt.rtp.min;
    out['rtp-max-port'] = mt.rtp.max;
  }
  return out;
}

/** The Unified CM servers: the real addresses static NAT maps the CTL's cucm addresses to. */
function clusterMembers(ctx: Context, ctl: AsaCtlFile, tftp: { address: string; interface: string }): MemberInput[] {
  const { ledger, nat, interfaces } = ctx;
  const members = new Map<string, MemberInput>();
  const ownAddress = (ifname: string) => interfaces.find((i) => i.name === ifname)?.own;
  const add = (address: string, ifname: string, objectNames: string[], node?: ConfigLine) => {
    if (members.has(address)) return;
    const named = nat.names.get(address);
    if (named) ledger.use(named.node);
    const raw =
      named?.name ?? (objectNames.length === 1 ? (objectNames[0] as string) : `ucm-${address.replace(/\./g, '-')}`);
    members.set(address, { name: policyName(raw, 'cluster member', ledger, node), address, interface: ifname });
  };
  for (const r of ctl.records) {
    if (r.function !== 'cucm' && r.function !== 'cucm-tftp') continue;
    const behind = nat.statics.filter((s) => {
      const mapped = s.mapped === 'interface' ? ownAddress(s.mappedInterface) : s.mapped;
      const signaling = !s.service || (s.service.protocol === 'tcp' && UCM_PORTS.has(s.service.mappedPort));
      return mapped === r.address && signaling;
    });
    for (const s of behind) for (const n of s.nodes) ledger.use(n);
    const hosts = [...new Set(behind.map((s) => s.host))];
    for (const host of hosts) {
      const objects = behind.filter((s) => s.host === host);
      add(host, objects[0]?.realInterface ?? tftp.interface, [...new Set(objects.map((s) => s.object))], r.node);
    }
    if (hosts.length > 0) continue;
    const direct = interfaceFor(interfaces, r.address);
    if (direct && direct.role === 'inside' && direct.own !== r.address) {
      add(r.address, direct.name, [], r.node);
    } else if (r.function === 'cucm-tftp') {
      ledger.warn(
        `no static NAT maps ${r.address} to a server: the cucm-tftp record is taken to be the TFTP server ${tftp.address}`,
        r.node,
      );
      add(tftp.address, tftp.interface, [], r.node);
    } else {
      ledger.warn(`no static NAT maps ${r.address} to a server: add the Unified CM under cluster.members`, r.node);
    }
  }
  // The TFTP server's own NAT (udp/69) is covered by tftp-server.
  for (const s of nat.statics) {
    if (s.host === tftp.address && s.service?.protocol === 'udp') for (const n of s.nodes) ledger.use(n);
  }
  if (members.size === 0) {
    ledger.warn(
      `no Unified CM found behind the CTL records: the TFTP server ${tftp.address} is taken as the publisher`,
    );
    add(tftp.address, tftp.interface, []);
  }
  return [...members.values()];
}

/** Imported Unified CM certificates (mixed mode verifies the TLS leg to each server with its own). */
function attachMemberCertificates(members: MemberInput[], candidates: AsaTrustpoint[], ledger: Ledger): Set<string> {
  const attached = new Set<string>();
  const free = [...candidates];
  const take = (m: MemberInput, tp: AsaTrustpoint, how: string) => {
    m.trustpoint = tp.name;
    attached.add(tp.name);
    free.splice(free.indexOf(tp), 1);
    ledger.warn(`trustpoint ${tp.name} taken as cluster member ${m.name}'s certificate (${how}); check it`, tp.node);
  };
  for (const m of members) {
    const byName = free.find((tp) => tp.name.toLowerCase().includes(m.name.toLowerCase()));
    if (byName) take(m, byName, 'by its name');
  }
  const left = members.filter((m) => !m.trustpoint);
  if (left.length > 0 && left.length === free.length) {
    for (const m of left) take(m, free[0] as AsaTrustpoint, 'in the order of the file');
  } else if (left.length > 0) {
    ledger.warn(
      `mixed mode: cannot tell which imported certificate belongs to ${left.map((m) => m.name).join(', ')}; set cluster.members[].trustpoint`,
    );
  }
  return attached;
}

function trustpointEntry(
  tp: AsaTrustpoint,
  ctx: Context,
  defaultSubject: string | undefined,
  certificates: ImportedCertificate[],
): TrustpointInput {
  const { ledger, crypto } = ctx;
  const what = `trustpoint ${tp.name}`;
  const entry: TrustpointInput = { name: tp.name };
  if (tp.enrollment === 'self') {
    entry.enroll = tp.ldcIssuer ? 'local-ca' : 'self';
    let subject = tp.subject;
    const fqdnNode = tp.node.children.find((c) => startsWith(c, 'fqdn'));
    if (!subject && tp.fqdn && fqdnNode) {
      subject = `CN=${tp.fqdn}`;
      ledger.use(fqdnNode);
    } else if (tp.fqdn && fqdnNode) {
      ledger.unmapped(
        fqdnNode,
        'subjectAltName: the policy has no setting for it (the subject comes from subject-name)',
      );
    }
    subject ??= defaultSubject;
    const clean = subject ? cleanSubject(subject, what, ledger, tp.node) : undefined;
    if (clean) entry.subject = clean;
    const pair = tp.keypair ? crypto.keyPairs.get(tp.keypair) : undefined;
    if (tp.keypair && !pair) {
      ledger.warn(`${what}: key pair ${tp.keypair} is not generated in this file; 2048 bits assumed`, tp.node);
    }
    entry['key-size'] = keySize(pair?.bits, what, ledger, pair?.node);
    if (tp.certificates.length > 0) {
      ledger.warn(`${what}: the ASA's certificate and key stay on the ASA; the appliance makes its own`, tp.node);
    }
    return entry;
  }
  const file = `certs/${tp.name}.pem`;
  entry.certificate = file;
  for (const c of tp.node.children)
    if (startsWith(c, 'keypair')) ledger.unmapped(c, 'the key of an imported certificate is not in a running-config');
  if (tp.certificates.length > 0) {
    certificates.push({ trustpoint: tp.name, file, pem: tp.certificates.join('') });
    ledger.warn(`${what}: certificate taken from the running-config; write it to ${file}`, tp.node);
  } else {
    const how = tp.enrollment === 'url' ? 'enrolled with a CA' : 'pasted in (enrollment terminal)';
    ledger.warn(`${what}: certificate ${how} is not in the running-config; put its PEM at ${file}`, tp.node);
  }
  if (tp.ldcIssuer) ledger.warn(`${what}: an imported LDC issuer also needs key: with its private key`, tp.node);
  return entry;
}

function tlsProxySection(
  tls: AsaTlsProxy | undefined,
  ctl: AsaCtlFile,
  ctx: Context,
  problems: string[],
): { section: Partial<PolicyInput['tls-proxy']>; localCa?: string } {
  const { ledger, crypto } = ctx;
  const section: Partial<PolicyInput['tls-proxy']> = {};
  let localCa: string | undefined;
  if (!tls) return { section };
  section.name = policyName(tls.name, 'tls-proxy', ledger, tls.node);
  const server = tls.serverTrustpoint;
  if (server) {
    const internal = server.name.match(INTERNAL_PP);
    if (internal) {
      // The ASA's _internal_PP_<ctl> identity is the certificate the CTL lists for Unified CM.
      const record =
        ctl.records.find((r) => r.function === 'cucm-tftp') ?? ctl.records.find((r) => r.function === 'cucm');
      if (internal[1] !== ctl.name) {
        problems.push(
          `line ${server.node.line}: server trust-point ${server.name} belongs to ctl-file ${internal[1]}, not ${ctl.name}`,
        );
      } else if (!record) {
        problems.push(
          `line ${server.node.line}: server trust-point ${server.name} needs a cucm or cucm-tftp record in ctl-file ${ctl.name}`,
        );
      } else {
        section['server-trustpoint'] = record.trustpoint;
        ledger.use(server.node);
      }
    } else {
      section['server-trustpoint'] = server.name;
      ledger.use(server.node);
    }
  }
  if (tls.ldcIssuer) {
    section['ldc-issuer'] = tls.ldcIssuer.name;
    ledger.use(tls.ldcIssuer.node);
    if (tls.ldcIssuer.name === 'LOCAL-CA-SERVER') localCa = 'LOCAL-CA-SERVER';
  }
  if (tls.ldcKeyPair) {
    const pair = crypto.keyPairs.get(tls.ldcKeyPair.label);
    if (!pair)
      ledger.warn(
        `LDC key pair ${tls.ldcKeyPair.label} is not generated in this file; 2048 bits assumed`,
        tls.ldcKeyPair.node,
      );
    section['ldc-key-size'] = keySize(pair?.bits, 'LDC key pair', ledger, pair?.node);
    ledger.use(tls.ldcKeyPair.node);
  }
  if (tls.serverCiphers) {
    const openssl: Record<string, string> = {
      'aes128-sha1': 'AES128-SHA',
      'aes256-sha1': 'AES256-SHA',
      '3des-sha1': 'DES-CBC3-SHA',
      'des-sha1': 'DES-CBC-SHA',
    };
    const known = tls.serverCiphers.suites.map((s) => openssl[s.toLowerCase()]).filter((s): s is string => !!s);
    if (known.length > 0) {
      section.ciphers = known.join(':');
      ledger.use(tls.serverCiphers.node);
      ledger.warn(
        'tls-proxy server cipher-suite: CBC suites only; consider dropping tls-proxy.ciphers',
        tls.serverCiphers.node,
      );
    } else {
      ledger.unmapped(tls.serverCiphers.node, 'no suite the appliance offers (null-sha1 is never negotiated)');
    }
  }
  return { section, ...(localCa && { localCa }) };
}

function defaultSubjectOf(commands: ConfigLine[], ledger: Ledger): { subject?: string; use: () => void } {
  const host = commands.find((c) => startsWith(c, 'hostname'));
  const domain = commands.find((c) => startsWith(c, 'domain-name'));
  if (!host?.words[1]) return { use: () => {} };
  const fqdn = domain?.words[1] ? `${host.words[1]}.${domain.words[1]}` : host.words[1];
  return {
    subject: `CN=${fqdn}`,
    use: () => {
      ledger.use(host);
      if (domain) ledger.use(domain);
    },
  };
}

export function importAsaConfig(text: string, source = 'running-config'): AsaImport {
  const parsed = parseAsaConfig(text);
  const { commands } = parsed;
  if (commands.length === 0 && parsed.problems.length === 0) {
    throw new AsaImportError(source, ['the file has no configuration lines (empty, or comments only)']);
  }
  const ledger = new Ledger();
  const problems: string[] = [];
  const ctx: Context = {
    commands,
    ledger,
    interfaces: mapInterfaces(commands, ledger),
    crypto: mapCrypto(commands, ledger),
    nat: mapNat(commands, ledger),
  };

  const proxies = commands.filter((c) => startsWith(c, 'phone-proxy') && c.words.length === 2);
  if (proxies.length === 0) {
    throw new AsaImportError(source, [
      'no phone-proxy instance (the ASA configures it as `phone-proxy NAME` with sub-commands)',
      ...parsed.problems.map((p) => `line ${p.line}: ${p.reason}: ${p.text}`),
    ]);
  }
  const pp = readPhoneProxy(proxies[0] as ConfigLine, ledger);

  const ref = <T>(kind: string, node: ConfigLine | undefined, read: (n: ConfigLine, l: Ledger) => T): T | undefined => {
    if (!node) return undefined;
    const target = findInstance(commands, kind, node, problems);
    if (!target) return undefined;
    ledger.use(node);
    ledger.use(target);
    return read(target, ledger);
  };
  const mt = ref('media-termination', pp.mediaTermination, readMediaTermination);
  const tls = ref('tls-proxy', pp.tlsProxy, readTlsProxy);
  const ctl = ref('ctl-file', pp.ctlFile, readCtlFile);

  if (ctx.interfaces.length === 0)
    problems.push('no interface with nameif and ip address: the policy needs its interfaces');
  if (!pp.tftpServer)
    problems.push(`line ${pp.node.line}: phone-proxy ${pp.name} has no tftp-server address … interface …`);
  if (!mt && pp.inlineMedia.length === 0)
    problems.push(`line ${pp.node.line}: phone-proxy ${pp.name} has no media-termination`);
  if (!pp.ctlFile) problems.push(`line ${pp.node.line}: phone-proxy ${pp.name} has no ctl-file`);
  if (!pp.tlsProxy) problems.push(`line ${pp.node.line}: phone-proxy ${pp.name} has no tls-proxy`);
  if (ctl && ctl.records.length === 0) problems.push(`line ${ctl.node.line}: ctl-file ${ctl.name} has no record-entry`);
  if (problems.length > 0 || !pp.tftpServer || !ctl || !tls) throw new AsaImportError(source, problems);
  const tftp = pp.tftpServer;

  // Trustpoints: the ASA's internal ones are made by the ctl-file; the rest are the policy's.
  const subjectDefault = defaultSubjectOf(commands, ledger);
  const tlsPart = tlsProxySection(tls, ctl, ctx, problems);
  if (problems.length > 0) throw new AsaImportError(source, problems);
  let sastCount = 0;
  const own: AsaTrustpoint[] = [];
  for (const tp of ctx.crypto.trustpoints) {
    const sast = tp.name.match(INTERNAL_SAST);
    if (tp.name.match(INTERNAL_PP) || sast) {
      ledger.useAll(tp.node);
      if (sast && sast[1] === ctl.name) sastCount++;
      continue;
    }
    own.push(tp);
  }
  const referenced = new Set<string>([
    ...ctl.records.map((r) => r.trustpoint),
    ...[tlsPart.section['server-trustpoint'], tlsPart.section['ldc-issuer']].filter((n): n is string => !!n),
  ]);
  const mode = pp.mode ?? 'nonsecure';
  const members = clusterMembers(ctx, ctl, tftp);
  const imported = own.filter((tp) => tp.enrollment !== 'self' && !referenced.has(tp.name));
  const ucmCerts = mode === 'mixed' ? imported.filter((tp) => UCM_CERT_NAME.test(tp.name)) : [];
  const memberCerts = mode === 'mixed' ? attachMemberCertificates(members, ucmCerts, ledger) : new Set<string>();
  // Like the ASA, every imported certificate that is not a server's is trusted for phones (MIC, LSC).
  const clientTrustpoints = own
    .filter((tp) => tp.enrollment !== 'self' && !memberCerts.has(tp.name) && !ucmCerts.includes(tp) && !tp.ldcIssuer)
    .filter(
      (tp) => !referenced.has(tp.name) || ctl.records.some((r) => r.function === 'capf' && r.trustpoint === tp.name),
    )
    .map((tp) => tp.name);

  const certificates: ImportedCertificate[] = [];
  const needed = new Set([...referenced, ...memberCerts, ...ucmCerts.map((t) => t.name), ...clientTrustpoints]);
  const trustpoints: TrustpointInput[] = [];
  for (const tp of own) {
    if (!needed.has(tp.name)) {
      ledger.unmapped(tp.node, 'trustpoint not used by the phone proxy');
      for (const c of tp.node.children) ledger.unmapped(c, 'setting of a trustpoint not used by the phone proxy');
      continue;
    }
    if (!tp.subject && !tp.fqdn && tp.enrollment === 'self') subjectDefault.use();
    trustpoints.push(trustpointEntry(tp, ctx, subjectDefault.subject, certificates));
    if (tp.keypair && ctx.crypto.keyPairs.has(tp.keypair) && tp.enrollment === 'self') {
      ledger.use(tp.node.children.find((c) => startsWith(c, 'keypair')) as ConfigLine);
    }
  }
  for (const c of commands) {
    if (startsWith(c, 'crypto', 'ca', 'certificate', 'chain') && c.words[4] && !needed.has(c.words[4])) {
      if (!INTERNAL_PP.test(c.words[4]) && !INTERNAL_SAST.test(c.words[4])) {
        ledger.unmapped(c, 'certificate chain of a trustpoint not used by the phone proxy');
        for (const n of c.children) ledger.unmapped(n, 'certificate of a trustpoint not used by the phone proxy');
      } else {
        ledger.useAll(c);
      }
    }
  }
  if (tlsPart.localCa) {
    trustpoints.push({ name: tlsPart.localCa, enroll: 'local-ca' });
    for (const c of commands) if (startsWith(c, 'crypto', 'ca', 'server')) ledger.useAll(c);
    ledger.warn('LDC issuer LOCAL-CA-SERVER (the ASA local CA) becomes a generated local-ca trustpoint');
  }
  for (const name of referenced) {
    if (!trustpoints.some((t) => t.name === name)) {
      const where = ctl.records.find((r) => r.trustpoint === name)?.node ?? tls.node;
      problems.push(`line ${where.line}: trustpoint ${name} is used but not defined (crypto ca trustpoint ${name})`);
    }
  }
  if (problems.length > 0) throw new AsaImportError(source, problems);

  const outside = new Set(ctx.interfaces.filter((i) => i.role === 'outside').map((i) => i.name));
  // The servers behind the phone proxy: an ACL line letting phones reach them is covered.
  const memberAddresses = new Set([...members.map((m) => m.address), tftp.address]);
  const nonsecure = mapAccessLists(commands, ledger, {
    outsideInterfaces: outside,
    reachesUcm: (dst) => {
      const [kind, value] = [dst[0]?.toLowerCase(), dst[1] ?? ''];
      if (kind === 'interface') return outside.has(value);
      if (kind === 'host') return memberAddresses.has(value) || ctl.records.some((r) => r.address === value);
      if (kind === 'object') return ctx.nat.statics.some((s) => s.object === value && memberAddresses.has(s.host));
      return false;
    },
  });
  const inspected = mapInspection(commands, ledger, pp.name);

  // A record for an address no outside interface owns (the ASA owned a second UCM's global
  // address through static NAT) has no equivalent until per-member addresses exist (issue 13):
  // it is reported, not carried into a policy `check` would refuse.
  const ownOutside = new Set(ctx.interfaces.filter((i) => i.role === 'outside').map((i) => i.own));
  const records = ctl.records.filter((r) => {
    if (ownOutside.has(r.address)) return true;
    ledger.drop(
      r.node,
      `${r.address} is not an outside interface address: the appliance cannot yet answer for a second Unified CM at its own address (per-member addresses); phones fail over through the record of the address they reach`,
    );
    return false;
  });
  ledger.warn(
    'phones holding the ASA CTL trust the appliance only after `phone-proxy sast import` of the ASA SAST keys, or after erasing their CTL',
  );

  const policy: PolicyInput = {
    name: policyName(pp.name, 'phone-proxy', ledger, pp.node),
    interfaces: ctx.interfaces.map((i) => ({ name: i.name, address: i.address, role: i.role })),
    cluster: { mode, members },
    'tftp-server': { address: tftp.address, interface: tftp.interface, ...(tftp.port && { port: tftp.port }) },
    'media-termination': mediaTermination(pp, mt, ledger),
    trustpoints,
    'ctl-file': {
      name: policyName(ctl.name, 'ctl-file', ledger, ctl.node),
      ...(sastCount > 0 && sastCount <= 5 && { 'sast-count': sastCount }),
      records: records.map((r) => ({
        function: r.function,
        trustpoint: r.trustpoint,
        address: r.address,
        ...(r.domainName && { 'domain-name': r.domainName }),
      })),
    },
    'tls-proxy': {
      ...tlsPart.section,
      'server-trustpoint': tlsPart.section['server-trustpoint'] ?? '',
      ...(clientTrustpoints.length > 0 && { 'client-trustpoints': clientTrustpoints }),
    },
  };
  if (ctl.clusterCtl) {
    const base = ctl.clusterCtl.path.replace(/^.*[:/\\]/, '');
    policy['ctl-file'].import = { file: `certs/${base}` };
    ledger.warn(`ctl-file: copy the cluster CTL ${ctl.clusterCtl.path} to certs/${base}`, ctl.clusterCtl.node);
  }
  if (!tls.serverTrustpoint) {
    const record = ctl.records.find((r) => r.function === 'cucm-tftp' || r.function === 'cucm');
    policy['tls-proxy']['server-trustpoint'] = record?.trustpoint ?? '';
    ledger.warn(`tls-proxy ${tls.name} has no server trust-point; the CTL's Unified CM trustpoint is used`, tls.node);
  }
  const listen: NonNullable<PolicyInput['listen']> = {};
  if (inspected['sccp-tls'] !== undefined && inspected['sccp-tls'] !== 2443) listen['sccp-tls'] = inspected['sccp-tls'];
  if (inspected['sip-tls'] !== undefined && inspected['sip-tls'] !== 5061) listen['sip-tls'] = inspected['sip-tls'];
  if (nonsecure.sip !== undefined) listen.sip = nonsecure.sip;
  if (nonsecure.sccp !== undefined) listen.sccp = nonsecure.sccp;
  const capf = mapCapf(ctx, nonsecure.capf, members, records, ledger);
  if (capf) {
    listen.capf = capf.listen;
    policy['capf-server'] = capf.server;
  }
  if (tftp.port !== undefined && tftp.port !== 69) {
    ledger.warn(`TFTP server port ${tftp.port}: phones still reach the appliance on listen.tftp (69)`, tftp.node);
  }
  if (Object.keys(listen).length > 0) policy.listen = listen;
  if (pp.securePhonesTimeout !== undefined) policy['secure-phones-timeout'] = pp.securePhonesTimeout;
  if (pp.preserveServiceSettings !== undefined) policy['preserve-net-config'] = pp.preserveServiceSettings;
  if (pp.proxyServer) {
    const { address, port, interface: ifname } = pp.proxyServer;
    policy['proxy-server'] = { address, port, interface: ifname };
  }
  if (pp.cipc) {
    policy.cipc = { 'security-mode': 'authenticated' };
    // CIPC's handshake is the old phones' one (TLS 1.0, AES128-SHA); the ASA's null-sha1 is not offered.
    policy['tls-proxy']['legacy-phones'] = true;
    policy['tls-proxy']['min-version'] = 'TLSv1';
    ledger.warn('cipc security-mode authenticated: tls-proxy legacy-phones on (TLS 1.0, AES128-SHA) for CIPC');
  }
  for (const extra of proxies.slice(1)) ledger.warn(`phone-proxy ${extra.words[1]} ignored: only one instance`, extra);

  const unmapped = [
    ...ledger.collect(commands, defaultReason),
    ...parsed.problems.map((p) => ({ line: p.line, text: p.text, reason: p.reason })),
  ].sort((a, b) => a.line - b.line);
  // File order, then the warnings about the whole file.
  const warnings = [...ledger.warnings].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  return { policy, unmapped, warnings, certificates };
}

/**
 * CAPF permitted from outside (an ACL for tcp/3804, usually with a static PAT of the outside
 * interface's 3804 to the publisher): the CAPF relay, listen.capf toward capf-server. Without a
 * capf record-entry phones could not verify CAPF, so the line is reported instead.
 */
function mapCapf(
  ctx: Context,
  acl: NonsecurePorts['capf'],
  members: MemberInput[],
  records: { function: string }[],
  ledger: Ledger,
): { listen: number; server: { address: string; interface: string; port: number } } | undefined {
  if (!acl) return undefined;
  if (!records.some((r) => r.function === 'capf')) {
    ledger.unmapped(
      acl.node,
      'CAPF (tcp/3804) without a ctl-file record-entry capf: phones could not verify CAPF; add the record to relay it (listen.capf)',
    );
    return undefined;
  }
  ledger.use(acl.node);
  const nat = ctx.nat.statics.find(
    (s) => s.service?.protocol === 'tcp' && s.service.mappedPort === acl.port && (!acl.host || s.host === acl.host),
  );
  for (const n of nat?.nodes ?? []) ledger.use(n);
  const address = nat?.host ?? acl.host ?? members[0]?.address ?? '';
  const member = members.find((m) => m.address === address);
  const iface = nat?.realInterface ?? member?.interface ?? members[0]?.interface ?? '';
  const server = { address, interface: iface, port: nat?.service?.realPort ?? acl.port };
  ledger.warn(
    `CAPF (tcp/${acl.port}) becomes the CAPF relay: listen.capf ${acl.port} to capf-server ${server.address}:${server.port}; it pipes the phones' TLS session with CAPF untouched (docs/capf.md)`,
    acl.node,
  );
  return { listen: nat?.service?.mappedPort ?? acl.port, server };
}

/** The policy as YAML, preceded by comments listing every unmapped line and warning. */
export function renderImport(result: AsaImport, source: string): string {
  const header = [`# Imported from ${source} by phone-proxy import-asa. Review before use.`];
  if (result.unmapped.length > 0) {
    header.push(`# ${result.unmapped.length} line(s) not mapped:`);
    for (const u of result.unmapped) header.push(`#   line ${u.line}: ${u.text}  -- ${u.reason}`);
  }
  if (result.warnings.length > 0) {
    header.push(`# ${result.warnings.length} warning(s):`);
    for (const w of result.warnings) header.push(`#   ${w.line ? `line ${w.line}: ` : ''}${w.message}`);
  }
  // A comment cannot end early: a newline inside a config line would start YAML.
  const safe = header.map((l) => l.replace(/[\r\n]/g, ' '));
  return `${safe.join('\n')}\n${stringify(result.policy, { lineWidth: 0 })}`;
}
