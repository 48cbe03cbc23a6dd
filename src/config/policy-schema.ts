/**
 * The appliance policy: one YAML file, keys in kebab-case like the ASA's CLI words.
 * Structure and types are checked here (zod, strict objects so a typo is an error);
 * the cross-field rules of the phone proxy (media-termination placement, references)
 * live in policy-rules.ts.
 */
import { z } from 'zod';
import { SYSLOG_FACILITIES, type SyslogFacility } from '../rfc5424';

const port = z.number().int().min(1).max(65535);
const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'must be an IPv4 address like 192.0.2.10');
const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 address/prefix like 192.0.2.1/24');
const name = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -');
/** Durations are seconds. */
const seconds = z.number().int().positive();
/** A resource limit (issue 12): the message names the key, the operator sees what to fix. */
const limit = (key: string, max: number) => {
  const error = `${key} must be a whole number from 1 to ${max}`;
  // refine, not int(): zod reports a fraction as invalid_type, which the loader words "is required".
  return z.number({ error }).min(1, { error }).max(max, { error }).refine(Number.isInteger, { error });
};

export const InterfaceSchema = z.strictObject({
  name,
  /** The appliance's own address on this interface, with the prefix of the attached subnet. */
  address: cidr,
  /** outside: phones reach the appliance here (listeners bind here); inside: UCM, TFTP and inside peers. */
  role: z.enum(['outside', 'inside']),
  /**
   * The address phones reach this interface at when a NAT in front of the appliance maps it (DNAT):
   * what the phones' configuration, the CTL records and SIP/SCCP/SDP toward the phones name
   * instead of the bound address. Absent: phones reach the bound address itself.
   */
  'public-address': ipv4.optional(),
});

export const ClusterMemberSchema = z.strictObject({
  name,
  address: ipv4,
  interface: name,
  'sip-port': port.default(5060),
  'sip-tls-port': port.default(5061),
  'sccp-port': port.default(2000),
  'sccp-tls-port': port.default(2443),
  /** Trustpoint holding this member's certificate (mixed mode: verifies the upstream TLS leg). */
  trustpoint: name.optional(),
  /**
   * The outside interface phones reach this member through: the phones' configuration names
   * that interface's (public) address for this member, and a phone connecting there is sent to
   * this member first, so the cluster's failover order survives the proxy. Absent: the
   * interface the phone fetched its configuration on.
   */
  'phone-interface': name.optional(),
});

export const ClusterSchema = z.strictObject({
  mode: z.enum(['nonsecure', 'mixed']),
  members: z.array(ClusterMemberSchema).min(1),
});

export const TftpServerSchema = z.strictObject({
  address: ipv4,
  interface: name,
  port: port.default(69),
  /** How long to wait for the UCM TFTP server before the phone gets an error. */
  timeout: seconds.default(5),
});

/** The SDES names of the SRTP suites the media engine implements (strongest first). */
const SRTP_SUITE_NAMES = [
  'AEAD_AES_256_GCM',
  'AEAD_AES_128_GCM',
  'AES_256_CM_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
] as const;

export const MediaTerminationSchema = z.strictObject({
  name: name.default('media-term'),
  /** One global address for all interfaces ... */
  address: ipv4.optional(),
  /** ... or one address per interface, never both. */
  addresses: z
    .array(
      z.strictObject({
        interface: name,
        address: ipv4,
        /** What SDP and SCCP tell phones when a NAT maps this address (see interfaces[].public-address). */
        'public-address': ipv4.optional(),
      }),
    )
    .optional(),
  'rtp-min-port': port.default(16384),
  'rtp-max-port': port.default(32767),
  'idle-timeout': seconds.default(60),
  /** Packet-path worker threads; 0 = one per core. */
  workers: z.number().int().min(0).max(64).default(0),
  /** Media admission (issue 12): sessions one phone (certificate device name) may hold at once. */
  'max-sessions-per-phone': limit('media-termination.max-sessions-per-phone', 65536).default(12),
  /** Sessions one signaling connection may hold at once. */
  'max-sessions-per-connection': limit('media-termination.max-sessions-per-connection', 65536).default(8),
  /** All sessions together; unset, the session table (what the port range holds). Clamped to it. */
  'max-sessions': limit('media-termination.max-sessions', 65536).optional(),
  /**
   * Inside legs (issue 13): off = media only from the signaled address; host = latch on the
   * first packet from the signaled address (any port), then hear and answer only that source;
   * any = latch on the first packet from any source (multihomed gateways and phones).
   */
  'inside-latch': z.enum(['off', 'host', 'any']).default('off'),
  /**
   * SDES suites SIP legs may negotiate (issue 17; src/sip/suite-choice.ts): an answer takes the
   * strongest a side offered among these. Default: all the media engine implements.
   */
  'srtp-suites': z
    .array(z.enum(SRTP_SUITE_NAMES))
    .min(1)
    .default([...SRTP_SUITE_NAMES]),
  /**
   * Sides offered AEAD_AES_256_GCM / AEAD_AES_128_GCM before they have shown they take them
   * (e.g. inside, toward CUCM 12.x or later). Strict default: none, so a side gets GCM offered
   * only once its own SDP offered or answered a GCM line.
   */
  'srtp-gcm-sides': z.array(z.enum(['outside', 'inside'])).default([]),
  /**
   * The media workers' sockets: batched = the native addon (recvmmsg/sendmmsg, built by `npm run
   * build`; a worker refuses to start without it), dgram = node:dgram, auto = batched when the
   * addon loads, else dgram (logged once).
   */
  'socket-io': z.enum(['auto', 'batched', 'dgram']).default('auto'),
});

/**
 * A trustpoint names a certificate: either generated and kept in the state directory
 * (`enroll: self`, or `enroll: local-ca` for a CA the appliance runs), or imported from files.
 */
export const TrustpointSchema = z.strictObject({
  name,
  enroll: z.enum(['self', 'local-ca']).optional(),
  subject: z.string().min(1).optional(),
  'key-size': z.union([z.literal(2048), z.literal(3072), z.literal(4096)]).default(2048),
  /** PEM or DER certificate file, relative to the policy file. */
  certificate: z.string().min(1).optional(),
  /** Private key for an imported certificate the appliance must present (PEM). */
  key: z.string().min(1).optional(),
});

export const CtlRecordSchema = z.strictObject({
  function: z.enum(['cucm', 'tftp', 'cucm-tftp', 'capf']),
  trustpoint: name,
  /** Addresses the remote phones use to reach this function (the appliance's outside addresses). */
  address: z.union([ipv4, z.array(ipv4).min(1)]).optional(),
  'domain-name': z.string().min(1).max(253).optional(),
});

export const CtlFileSchema = z.strictObject({
  name: name.default('ctl'),
  'sast-count': z.number().int().min(1).max(5).default(2),
  // The digests a Cisco signed file can carry (ctl/signed-header.ts SIGNING_DIGESTS); also signs the .sgn files.
  digest: z
    .enum(['sha1', 'sha512'], {
      error: 'must be sha1 or sha512: Cisco CTL and .sgn files carry no other digest (sha256 has no signer version)',
    })
    .default('sha1'),
  records: z.array(CtlRecordSchema).min(1),
  /** An existing cluster CTL (mixed mode): its certificates become trust anchors. */
  import: z
    .strictObject({
      file: z.string().min(1),
      /** Record functions to carry into the generated CTL. */
      carry: z.array(z.enum(['cucm', 'tftp', 'cucm-tftp', 'capf'])).default([]),
    })
    .optional(),
});

/**
 * What a remote phone's configuration may name besides call control (docs/cnf-xml.md §4 item 10).
 * Defaults hide what a phone outside cannot reach: SRST off, TVS members removed.
 */
export const RemotePhonesSchema = z.strictObject({
  /** disable: SRST off and its addresses emptied; keep: as UCM wrote it; {address}: an SRST reachable from outside. */
  srst: z.union([z.enum(['disable', 'keep']), z.strictObject({ address: ipv4 })]).default('disable'),
  /** remove: TVS members dropped (the appliance's CTL is the phone's trust anchor); keep; or {address, port}. */
  tvs: z
    .union([z.enum(['remove', 'keep']), z.strictObject({ address: ipv4, port: port.default(2445) })])
    .default('remove'),
  /** Service URLs and portalDefaultServer are kept as UCM wrote them unless a prefix here maps them. */
  'service-urls': z.array(z.strictObject({ from: z.string().min(1), to: z.string() })).default([]),
});

export const TlsVersionSchema = z.enum(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']);

/**
 * The TLS leg toward UCM (issue 13, src/tls/cipher-policy.ts upstreamCipherProfile): the phone
 * side's table. strong (default): TLS 1.2+, ECDHE with AEAD; legacy: adds AES128-SHA and lets
 * min-version go down to TLS 1.0 for old UCM releases (logged loudly at start).
 */
export const UPSTREAM_CIPHERS = ['strong', 'legacy'] as const;
export const TlsUpstreamSchema = z.strictObject({
  'min-version': z
    .enum(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'], {
      error: 'tls-proxy.upstream.min-version must be TLSv1, TLSv1.1, TLSv1.2 (the default) or TLSv1.3',
    })
    .default('TLSv1.2'),
  ciphers: z
    .enum(UPSTREAM_CIPHERS, {
      error:
        'tls-proxy.upstream.ciphers must be strong (the default: ECDHE with AEAD only) or legacy (adds AES128-SHA, and TLS 1.0/1.1 with min-version)',
    })
    .default('strong'),
});

export const TlsProxySchema = z.strictObject({
  name: name.default('tls-proxy'),
  'server-trustpoint': name,
  /** Local CA that mints the phone's LDC for the TLS leg to a mixed-mode cluster. */
  'ldc-issuer': name.optional(),
  'ldc-key-size': z.union([z.literal(2048), z.literal(3072), z.literal(4096)]).default(2048),
  /** Trust anchors the phones' certificates (MIC, LSC) must chain to. */
  'client-trustpoints': z.array(name).default([]),
  'min-version': TlsVersionSchema.default('TLSv1.2'),
  /** OpenSSL cipher list; the default is strong suites only. */
  ciphers: z.string().min(1).optional(),
  /** Allow TLS 1.0 and AES128-SHA for old phones (logged loudly at start). */
  'legacy-phones': z.boolean().default(false),
  /** Version floor and cipher set of the leg toward UCM (mixed mode); strong by default. */
  upstream: TlsUpstreamSchema.default({ 'min-version': 'TLSv1.2', ciphers: 'strong' }),
  'remote-addr': z
    .array(z.strictObject({ subnet: cidr, trustpoint: name, 'strict-cipher': z.boolean().default(false) }))
    .default([]),
  /** A phone connection with no traffic either way for this long is closed (counted as an age-out). */
  'idle-timeout': seconds.default(1800),
  /** Connection admission (issue 12, src/tls/admission.ts), all TLS listeners together. */
  'max-connections': limit('tls-proxy.max-connections', 1_000_000).default(10_000),
  'max-connections-per-source': limit('tls-proxy.max-connections-per-source', 1_000_000).default(50),
  'max-pending-handshakes-per-source': limit('tls-proxy.max-pending-handshakes-per-source', 1_000_000).default(10),
  'max-connections-per-device': limit('tls-proxy.max-connections-per-device', 1000).default(4),
  /** Seconds from accept to the end of the TLS handshake, however slowly the bytes trickle. */
  'handshake-timeout': limit('tls-proxy.handshake-timeout', 300).default(10),
  /** Seconds from the first byte of a phone's SIP or SCCP message to its last. */
  'message-timeout': limit('tls-proxy.message-timeout', 300).default(5),
});

/** UCM's CAPF port (Cisco default, configurable on UCM). */
export const CAPF_PORT = 3804;

/** The appliance's listeners toward the phones. */
export const LISTENER_NAMES = ['tftp', 'sip-tls', 'sccp-tls', 'sip', 'sccp', 'capf'] as const;
export type ListenerName = (typeof LISTENER_NAMES)[number];

/**
 * One listener: a port (on every outside interface), `{ port, address }` (only on the outside
 * interface with that address), or `false` (not opened).
 */
const ListenerSchema = z.union([port, z.literal(false), z.strictObject({ port, address: ipv4.optional() })]);
type ListenerInput = z.infer<typeof ListenerSchema>;

const portOf = (v: ListenerInput | undefined, fallback: number): number =>
  typeof v === 'number' ? v : v === false || v === undefined ? fallback : v.port;

/**
 * Parsed, each listener's port stays a number under its own key (what the config rewriter
 * tells phones; a switched-off secure listener keeps its default there), with `off` and
 * `addresses` beside: use `listenerEndpoint()` to know whether and where a listener opens.
 */
export const ListenSchema = z
  .strictObject({
    tftp: ListenerSchema.default(69),
    'sip-tls': ListenerSchema.default(5061),
    'sccp-tls': ListenerSchema.default(2443),
    /**
     * Nonsecure signaling toward phones (plain TCP, inspected like the TLS listeners): LSC
     * provisioning (ASA example 5) and CIPC before its LSC (example 6); off unless set.
     */
    sip: ListenerSchema.optional(),
    sccp: ListenerSchema.optional(),
    /**
     * The CAPF relay (src/capf/, docs/capf.md): phones reach UCM's CAPF (LSC enrolment, TLS end
     * to end) through it. Off unless set; `true` is the CAPF port, 3804.
     */
    capf: z.union([z.literal(true), ListenerSchema]).optional(),
  })
  .transform((l) => {
    const off: ListenerName[] = [];
    const addresses: Partial<Record<ListenerName, string>> = {};
    for (const n of LISTENER_NAMES) {
      const v = n === 'capf' && l.capf === true ? CAPF_PORT : l[n];
      if (v === false || v === undefined) off.push(n);
      else if (typeof v === 'object' && v.address) addresses[n] = v.address;
    }
    const optionalPort = (v: ListenerInput | undefined) => (v === false || v === undefined ? undefined : portOf(v, 0));
    const sip = optionalPort(l.sip);
    const sccp = optionalPort(l.sccp);
    const capf = l.capf === true ? CAPF_PORT : optionalPort(l.capf);
    return {
      tftp: portOf(l.tftp, 69),
      'sip-tls': portOf(l['sip-tls'], 5061),
      'sccp-tls': portOf(l['sccp-tls'], 2443),
      ...(sip !== undefined ? { sip } : {}),
      ...(sccp !== undefined ? { sccp } : {}),
      ...(capf !== undefined ? { capf } : {}),
      off,
      addresses,
    };
  });
export type Listen = z.infer<typeof ListenSchema>;

/** Whether and where a listener opens: its port, and the one address it binds (all outside interfaces without). */
export function listenerEndpoint(l: Listen, name: ListenerName): { port: number; address?: string } | undefined {
  const port = l[name];
  if (port === undefined || l.off.includes(name)) return undefined;
  const address = l.addresses[name];
  return address ? { port, address } : { port };
}

export const TftpSchema = z.strictObject({
  'rate-limit': z
    .strictObject({
      'per-source': z.number().positive().default(10),
      global: z.number().positive().default(300),
      burst: z.number().int().positive().default(20),
    })
    .prefault({}),
});

/**
 * Where UCM's CAPF listens (docs/capf.md), for the CAPF relay (`listen.capf`). Absent: the first
 * cluster member (the publisher, where CAPF runs), on its interface, port 3804.
 */
export const CapfServerSchema = z.strictObject({
  address: ipv4,
  interface: name,
  port: port.default(CAPF_PORT),
  /** Seconds to wait for CAPF to accept the TCP connection; the phone's connection is closed then. */
  timeout: limit('capf-server.timeout', 60).default(5),
});

/**
 * The CAPF relay's bounds (src/capf/relay.ts): it faces the Internet and pipes bytes it cannot
 * read (TLS between the phone and CAPF), so everything a peer can hold is capped here.
 */
export const CapfRelaySchema = z.strictObject({
  /** Connections through the relay at once (each holds two fds: phone and CAPF). */
  'max-connections': limit('capf-relay.max-connections', 100_000).default(100),
  /** Connections from one source address (phones behind one NAT enrolling together). */
  'max-connections-per-source': limit('capf-relay.max-connections-per-source', 100_000).default(10),
  /** Seconds from accept to the phone's first byte (its TLS ClientHello); CAPF is not dialled before. */
  'first-byte-timeout': limit('capf-relay.first-byte-timeout', 300).default(10),
  /** Seconds with no byte either way (a phone generating its key pair is silent for a while). */
  'idle-timeout': limit('capf-relay.idle-timeout', 3600).default(180),
  /** Seconds a connection may last in all, however busy. */
  'max-duration': limit('capf-relay.max-duration', 86_400).default(900),
  /** Bytes one connection may carry, both directions together (an enrolment is a few kB). */
  'max-bytes': limit('capf-relay.max-bytes', 64 * 1024 * 1024).default(1024 * 1024),
});

/**
 * Scale-out and high availability (issue 14, docs/cluster.md): appliances sharing state through
 * one Redis. Not the UCM `cluster` above: these are phone-proxy nodes. Absent, the box is alone.
 */
export const CLUSTER_ROLES = ['active', 'standby', 'active-active'] as const;
export const ApplianceClusterSchema = z.strictObject({
  /** `redis://[user:pass@]host:port/db` (`rediss://` for TLS), or Sentinels and the master's name. */
  redis: z.union([
    z.string().min(1),
    z.strictObject({
      sentinels: z.array(z.strictObject({ host: z.string().min(1), port: port.default(26379) })).min(1),
      name: name,
      /** Database number, AUTH for the master (the secret-file holds no Redis password). */
      db: z.number().int().min(0).max(15).default(0),
      username: z.string().min(1).optional(),
      password: z.string().min(1).optional(),
    }),
  ]),
  /** This appliance's name in the cluster: unique per node, it names its keys in Redis. */
  node: name,
  role: z.enum(CLUSTER_ROLES, { error: 'appliance-cluster.role must be active, standby or active-active' }),
  /** File (0600) with the key(s) that encrypt secrets in Redis; relative to the policy file. */
  'secret-file': z.string().min(1),
  /** Start and serve alone when Redis is unreachable at start (logged loudly); default: refuse. */
  'start-without-redis': z.boolean().default(false),
  /**
   * File (0600) holding the Redis AUTH password (first line), relative to the policy: the
   * password then sits in neither the policy nor the URL. With a user in the URL it is that
   * user's (ACL); else the default user's (requirepass).
   */
  'password-file': z.string().min(1).optional(),
  /** TLS to Redis (rediss:// or Sentinel): CA, and client certificate + key, relative to the policy. */
  tls: z
    .strictObject({
      ca: z.string().min(1).optional(),
      certificate: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      'server-name': z.string().min(1).optional(),
    })
    .optional(),
  /**
   * Active-active takeover across addresses (docs/cluster.md §7): other nodes' media-termination
   * addresses this node binds only for sessions it adopts from them (keepalived moves the
   * address here when its node dies), never for new calls. Role standby or active-active.
   */
  'takeover-addresses': z.array(ipv4).max(64).optional(),
});

export const ControlSchema = z.strictObject({
  /**
   * Management API: a UNIX socket in the control directory (`--control-dir`, else the state
   * directory), or 127.0.0.1:port with a token.
   */
  socket: z.enum(['unix', 'tcp']).default('unix'),
  port: port.optional(),
  metrics: z.strictObject({ address: ipv4.default('127.0.0.1'), port }).optional(),
});

export const PolicySchema = z.strictObject({
  /** The phone-proxy instance name. */
  name: name.default('phone-proxy'),
  interfaces: z.array(InterfaceSchema).min(1),
  cluster: ClusterSchema,
  /** UCM's TFTP server; only a policy with `listen.tftp: false` (a SIP edge) goes without. */
  'tftp-server': TftpServerSchema.optional(),
  'media-termination': MediaTerminationSchema,
  trustpoints: z.array(TrustpointSchema).min(1),
  'ctl-file': CtlFileSchema,
  'tls-proxy': TlsProxySchema,
  listen: ListenSchema.prefault({}),
  tftp: TftpSchema.prefault({}),
  /** How long a phone stays in the secure-phones database after its last config fetch. */
  'secure-phones-timeout': seconds.default(300),
  /** Keep the UCM's service settings (PC port, GARP, voice VLAN access, ...) instead of disabling them. */
  'preserve-net-config': z.boolean().default(false),
  'remote-phones': RemotePhonesSchema.prefault({}),
  'proxy-server': z.strictObject({ address: ipv4, port, interface: name }).optional(),
  cipc: z.strictObject({ 'security-mode': z.enum(['authenticated']) }).optional(),
  /**
   * Bind signaling to the certificate (issue 12): a SIP REGISTER naming a device (Contact's
   * `+u.sip!devicename.ccm.cisco.com`, `+sip.instance` urn:uuid of the MAC, or a SEP<MAC> user)
   * and an SCCP Register must name the certificate's device, or are refused. Off only for
   * phones whose certificates do not carry the device name.
   */
  'bind-identity': z.boolean().default(true),
  control: ControlSchema.prefault({}),
  'appliance-cluster': ApplianceClusterSchema.optional(),
  /** UCM's CAPF behind the CAPF relay (listen.capf); default the first cluster member, port 3804. */
  'capf-server': CapfServerSchema.optional(),
  'capf-relay': CapfRelaySchema.prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
      /** auto: human-readable lines when stderr is a terminal, JSON lines otherwise (src/log.ts). */
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
      /** Every line also as RFC 5424 over UDP to this collector (src/syslog.ts). */
      syslog: z
        .strictObject({
          address: ipv4,
          port: port.default(514),
          facility: z.enum(Object.keys(SYSLOG_FACILITIES) as [SyslogFacility, ...SyslogFacility[]]).default('local0'),
        })
        .optional(),
    })
    .prefault({}),
});

export type Policy = z.infer<typeof PolicySchema>;
export type PolicyInterface = z.infer<typeof InterfaceSchema>;
export type ClusterMember = z.infer<typeof ClusterMemberSchema>;
export type Trustpoint = z.infer<typeof TrustpointSchema>;
export type CtlRecord = z.infer<typeof CtlRecordSchema>;
export type MediaTermination = z.infer<typeof MediaTerminationSchema>;
export type TlsProxy = z.infer<typeof TlsProxySchema>;
export type TlsUpstream = z.infer<typeof TlsUpstreamSchema>;
export type RemotePhones = z.infer<typeof RemotePhonesSchema>;
export type ApplianceCluster = z.infer<typeof ApplianceClusterSchema>;
export type ClusterRole = (typeof CLUSTER_ROLES)[number];
export type CapfRelay = z.infer<typeof CapfRelaySchema>;
