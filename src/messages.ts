/**
 * The log message catalogue, after Cisco's syslog message guide: every warning and error line
 * the appliance writes has a stable id here, `%PPX-<severity>-<6 digits>`, with its text, what
 * it means and what to do (docs/messages.md lists exactly these; test/messages.test.ts checks
 * both ways, and that every warn/error call in src/ passes one). Severities are the ASA's
 * (syslog's) numbers: 3 error, 4 warning. The first three digits are the area: 100 the
 * appliance (policy reload included), 120 TFTP, 130 TLS proxy, 140 SIP, 150 SCCP, 160 media
 * termination (media takeover included), 170 the appliance cluster (Redis link, shared trust,
 * CTL and LDCs), 180 packet capture, 190 the CAPF relay.
 *
 * A call site passes the id and the fields its template names:
 *   log.warn(...ppx(120005, { from, file }))
 * which logs `{ msgId: 'PPX-4-120005', from, file }` with the template filled in as the message.
 * The catalogue code (`code`, docs/errors.md) of the failure, when it has one, stays a field.
 */

import { printable } from './printable';

export interface MessageSpec {
  /** ASA/syslog severity: 3 error, 4 warning. */
  severity: 3 | 4;
  /** The line, `{field}` standing for a field of the call. */
  text: string;
  explanation: string;
  action: string;
}

export const MESSAGES = {
  // ---- 100: the appliance
  100001: {
    severity: 4,
    text: '{suppressed} similar messages suppressed ({kind})',
    explanation:
      'Warnings an unauthenticated peer can cause are rate-limited per kind (15 s): the first is written, the others counted and reported by this line.',
    action: 'Look at the first message of that kind; the counters of the view it belongs to have every occurrence.',
  },
  100002: {
    severity: 3,
    text: 'service {service} did not stop cleanly: {err}',
    explanation: 'A service failed while the appliance was stopping (or restarting for a reload).',
    action: 'Usually harmless at exit; if it repeats on reloads, report it with the errors log.',
  },
  100003: {
    severity: 4,
    text: 'warm-up incomplete: the first calls may be slower',
    explanation:
      'The canned calls run before "started" to load and compile the signaling and media paths did not all complete.',
    action:
      'None needed; the first real calls pay the lazy loads. A lasting failure shows in the next lines of the log.',
  },
  100004: {
    severity: 4,
    text: "open-files limit {softLimit} is below the policy's worst case {worstCase} ({breakdown}): raise LimitNOFILE or lower the policy's limits; see show resources",
    explanation:
      'The soft RLIMIT_NOFILE does not cover what the policy allows at once (media sockets, TLS connections, TFTP transfers, listeners).',
    action:
      'Raise the limit (systemd LimitNOFILE, ulimit -n) or lower the policy limits; show resources shows each term.',
  },
  100005: {
    severity: 3,
    text: 'policy reload: live keys no service took: {unclaimed}',
    explanation:
      'A reload changed keys that apply live, but no running service reported applying them; they are left out of the "applied live" list of the reload answer and may still run their old values.',
    action:
      'A bug: report it with the keys named and the policy change. Restart the appliance to run their new values.',
  },
  // ---- 120: TFTP interceptor
  120001: {
    severity: 3,
    text: 'secure-phones database: {err}',
    explanation: 'The secure-phones database in the state directory could not be read or written.',
    action: 'Check the state directory (space, permissions); the appliance keeps the records in memory meanwhile.',
  },
  120002: {
    severity: 3,
    text: 'secure-phones database not saved at stop: {err}',
    explanation: 'The secure-phones database could not be written when the TFTP interceptor stopped.',
    action: 'Check the state directory; the phones are recorded again at their next configuration fetch.',
  },
  120003: {
    severity: 4,
    text: 'TFTP request from {from} refused: rate limit ({limit})',
    explanation:
      'A source sent requests faster than tftp.rate-limit.per-source, or all sources together faster than tftp.rate-limit.global; the request was dropped without reply and counted.',
    action:
      'A phone in a boot loop or a scanner; show phone-proxy drops counts them. Raise the limit only if phones booting together are refused.',
  },
  120004: {
    severity: 3,
    text: 'TFTP request from {from} for {file} failed: {err}',
    explanation: 'An unexpected error while serving a request; the phone got "file not found".',
    action: 'A bug: report it with this line.',
  },
  120005: {
    severity: 4,
    text: 'TFTP request from {from} for {file}: encrypted configuration not supported through the proxy',
    explanation: 'The phone asked for an encrypted configuration file (.enc.sgn), which the proxy cannot rewrite.',
    action: "Turn off configuration file encryption in the phone's security profile on Unified CM.",
  },
  120006: {
    severity: 4,
    text: 'UCM TFTP server did not answer for {file} (phone {from}); the phone gets an error',
    explanation: 'The Unified CM TFTP server did not answer within tftp-server.timeout.',
    action: 'Check the route from the inside interface to the TFTP server and that the server runs.',
  },
  120007: {
    severity: 4,
    text: 'UCM TFTP server refused {file} (phone {from}): {cause}',
    explanation:
      'The Unified CM TFTP server answered with an error other than "file not found", or the file was too large.',
    action: 'Check the file on the TFTP server and its size against the limits.',
  },
  120008: {
    severity: 4,
    text: 'non-configuration file parsing error: {file} (phone {from}): {cause}',
    explanation:
      'A signed (.sgn) file from Unified CM could not be read to be re-signed; the phone got "File parsing error".',
    action: 'Regenerate the file on Unified CM.',
  },
  120009: {
    severity: 4,
    text: 'configuration file parsing error: {device} {file}:{line}:{column}: {cause}',
    explanation:
      "The phone's configuration file from Unified CM is not well-formed XML; the phone got an error, never the file unrewritten.",
    action: "Fix the device's configuration on Unified CM at the line and column named.",
  },
  120010: {
    severity: 4,
    text: 'phone {device} ({from}) requested its unsigned configuration: has it installed the CTL?',
    explanation: 'A phone with the CTL installed asks for SEP<MAC>.cnf.xml.sgn; the unsigned name means it has not.',
    action:
      'Check that the phone downloaded CTLFile.tlv (its Security Configuration menu); erase its CTL if it holds an old one.',
  },
  120011: {
    severity: 4,
    text: 'relay of {file} to {from} interrupted by the UCM TFTP server: {cause}',
    explanation: 'The Unified CM TFTP server failed or stopped answering in the middle of a relayed file.',
    action: 'Check the TFTP server; the phone retries the file.',
  },
  // ---- 130: TLS proxy
  130001: {
    severity: 4,
    text: 'tls-proxy: LEGACY PHONES ALLOWED: TLS 1.0/1.1 and AES128-SHA accepted from phones (legacy-phones: true)',
    explanation: 'The policy lets phones connect with TLS 1.0/1.1 and AES128-SHA.',
    action: 'Only for old phone loads that need it; turn tls-proxy.legacy-phones off once they are upgraded.',
  },
  130002: {
    severity: 4,
    text: 'tls-proxy: LEGACY UPSTREAM CIPHERS: AES128-SHA offered to UCM, {minVersion} and later (tls-proxy.upstream.ciphers: legacy)',
    explanation: 'The policy offers AES128-SHA (and possibly TLS 1.0/1.1) to Unified CM.',
    action: 'Only for old Unified CM releases; set tls-proxy.upstream.ciphers to strong once they are upgraded.',
  },
  130003: {
    severity: 3,
    text: 'tls-proxy: no client trust anchors (tls-proxy.client-trustpoints): every phone will be refused',
    explanation: 'No certificate is configured to verify phone certificates with.',
    action: 'Add the Cisco Manufacturing CA (and the CAPF certificate for LSCs) under tls-proxy.client-trustpoints.',
  },
  130004: {
    severity: 4,
    text: '{protocol} listener {listener} error: {err}',
    explanation:
      'A listener failed to accept a connection, usually EMFILE (out of file descriptors); the listener stays open.',
    action: 'See show resources and raise the open-files limit; many of these mean an overload.',
  },
  130005: {
    severity: 4,
    text: 'connection from {remote} refused: {limit} limit',
    explanation:
      'A phone connection was refused before any TLS work: the global, per-source or pending-handshake limit of tls-proxy was reached.',
    action:
      'A source over its limit is usually an attack or a loop; raise tls-proxy.max-connections* only for real phones.',
  },
  130006: {
    severity: 4,
    text: 'phone {remote} refused in the TLS handshake: {reason}',
    explanation:
      'A phone connection failed its TLS handshake: no certificate, a certificate that does not verify against tls-proxy.client-trustpoints, a protocol or cipher mismatch, or no handshake in time.',
    action:
      "The reason says which; for certificates, check the phone's MIC/LSC issuer against the client trustpoints. show phone-proxy drops counts them.",
  },
  130007: {
    severity: 3,
    text: 'TLS proxy: accepted socket of {remote} not found; connection closed',
    explanation: 'The TLS proxy could not find the admission record of a connection; it refused it.',
    action: 'A bug (or a Node.js change): report it.',
  },
  130008: {
    severity: 4,
    text: 'connection from {remote} refused: device {phone} at its connection limit ({limit})',
    explanation: 'The device already has tls-proxy.max-connections-per-device connections.',
    action: 'A phone reconnecting in a loop, or a copied certificate in use by several hosts.',
  },
  130009: {
    severity: 3,
    text: 'leg decision failed for {remote}: {err}',
    explanation: 'The upstream and media legs of a phone could not be decided; the connection was closed.',
    action: 'A bug: report it with the policy cluster mode and the phone record (show phone-proxy secure-phones).',
  },
  130010: {
    severity: 3,
    text: 'no upstream for phone {phone}: {reason}',
    explanation: 'No cluster member accepted the upstream connection for a phone; the phone connection was closed.',
    action:
      "Check the cluster members' addresses, ports and trustpoints; see the upstream connection failures before it.",
  },
  130011: {
    severity: 4,
    text: 'incomplete message from phone {remote}: connection closed after {waitingMs} ms',
    explanation: 'A SIP or SCCP message from the phone stayed incomplete longer than tls-proxy.message-timeout.',
    action: 'A slow-loris style peer, or a broken path; nothing to do for isolated ones.',
  },
  130012: {
    severity: 3,
    text: 'inspector cleanup failed on connection {conn}: {err}',
    explanation: "Releasing a closed connection's calls and media failed.",
    action: 'A bug: report it; show phone-proxy media-sessions shows what is left.',
  },
  130013: {
    severity: 4,
    text: 'send queue toward {where} overflowed ({queued} bytes): peer not reading; connection closed',
    explanation: 'One side of a connection stopped reading while the other kept sending; the queue limit closed it.',
    action: 'A stuck phone or Unified CM node; nothing to do for isolated ones.',
  },
  130014: {
    severity: 4,
    text: 'upstream connection to {member} ({upstream}) failed: {reason}',
    explanation: 'The TCP or TLS connection to a cluster member failed; the next member is tried.',
    action: "Check the member's address and port, and for TLS legs its trustpoint and the LDC issuer upload.",
  },
  // ---- 140: SIP inspection
  140001: {
    severity: 4,
    text: 'SIP stream from {from} cannot be framed: {reason}; connection closed',
    explanation: 'The SIP stream could not be cut into messages within the framing limits.',
    action: 'Not a SIP peer, or one sending oversized messages.',
  },
  140002: {
    severity: 3,
    text: 'SIP inspection failed on connection {conn}: {err}',
    explanation: 'An unexpected error inspecting a SIP message; it was not forwarded.',
    action: 'A bug: report it with `debug signaling on` output.',
  },
  140003: {
    severity: 4,
    text: 'malformed SIP message from {from} dropped: {reason}',
    explanation:
      'A message that is not valid SIP was dropped (the first few per connection, then one in 100, are logged).',
    action: 'A misbehaving peer; show phone-proxy drops counts them.',
  },
  140004: {
    severity: 4,
    text: 'SIP request refused with {status}: {reason}',
    explanation:
      'The appliance answered a request itself: identity mismatch (403), media that cannot be served (486, 488, 503), SDP where there is no offer/answer.',
    action: 'The reason says which; for 403, the REGISTER names another device than the certificate.',
  },
  140005: {
    severity: 4,
    text: 'media release failed for call {callId}: {err}',
    explanation: "A call's media session could not be released at its end.",
    action: 'Nothing usually: the idle timeout releases it. Report it if it repeats.',
  },
  // ---- 150: SCCP inspection
  150001: {
    severity: 4,
    text: 'SCCP message dropped: {reason}',
    explanation:
      'An SCCP message was not forwarded (a media request the appliance could not serve, an unusable address).',
    action: 'The reason says which; show phone-proxy drops counts them.',
  },
  150002: {
    severity: 4,
    text: 'SCCP connection closed: {reason}',
    explanation:
      'SCCP inspection closed the connection: framing out of bounds, a Register naming another device than the certificate, a message that does not decode, overload.',
    action: 'The reason says which; a phone doing this repeatedly is not speaking SCCP on that port.',
  },
  // ---- 160: media termination
  160001: {
    severity: 3,
    text: 'media worker {worker} recovery failed: {err}',
    explanation: 'A restarted media worker could not take its sessions back.',
    action: 'Those calls lost media; report it with the errors log.',
  },
  160002: {
    severity: 3,
    text: 'media worker {worker} error: {err}',
    explanation: 'A media worker thread reported an error; it is restarted.',
    action: 'Report it if it repeats.',
  },
  160003: {
    severity: 4,
    text: 'media port pair {address}:{port} busy, trying another',
    explanation: 'Another process holds a port of the media range.',
    action: 'Keep the media-termination port range for the appliance alone.',
  },
  160004: {
    severity: 3,
    text: 'idle release of media session {session} failed: {err}',
    explanation: 'A media session idle past its timeout could not be released.',
    action: 'Report it; clear phone-proxy media-sessions releases it by hand.',
  },
  160005: {
    severity: 4,
    text: 'media worker {worker} restarted (exit {exitCode}); re-creating its {sessions} sessions',
    explanation: 'A media worker thread died and was replaced; its sessions are bound again with their keys.',
    action: 'Calls continue; report a worker that keeps dying.',
  },
  160006: {
    severity: 3,
    text: 'media session {session} lost in worker restart: {err}',
    explanation: 'A session could not be re-created on the restarted worker; it was released.',
    action: 'That call lost its media; report it.',
  },
  160007: {
    severity: 4,
    text: 'media snapshot of session {session} not published: {err}',
    explanation:
      "The session's snapshot (legs, keys, SRTP stream states) could not be handed to the cluster (docs/cluster.md §7); until its next change is published, a standby holds an older copy or none and cannot take that call over if this node dies. Counted as replica-failed in show media-termination.",
    action: 'A bug: report it with the error. The next change of the session publishes it again.',
  },
  160008: {
    severity: 4,
    text: 'media takeover watch failed: {err}',
    explanation:
      'The check for dead nodes (their media-alive key in Redis, read every 100 ms) failed, usually a Redis read that timed out; it runs again at the next heartbeat, so a death is seen late, not missed.',
    action: 'Check the Redis link (show cluster) and its latency; report it if it repeats while Redis is up.',
  },
  160009: {
    severity: 4,
    text: 'node {node} is dead (no heartbeat): taking over its {sessions} media sessions',
    explanation:
      "The media-alive key of a node this one follows expired in Redis (no heartbeat for 400 ms): it is taken for dead, and this node binds its sessions' addresses and ports and relays them on with their keys (docs/cluster.md §7).",
    action:
      'Find out why that node died (its own log, systemd). If it is alive, its heartbeat writes stalled: check its load and the Redis latency. With keepalived, the media-termination address should now be on this node.',
  },
  160010: {
    severity: 3,
    text: 'media session {session} of node {node} not taken over: {err}',
    explanation:
      "A session of the dead node could not be adopted: its snapshot did not open or decode, its addresses and ports could not be bound within 5 s, or its worker refused it. That call's media is lost here; its copy stays in Redis.",
    action:
      'Binds that fail mean the node still holds the ports (it is alive) or the media-termination address did not move (keepalived, net.ipv4.ip_nonlocal_bind); a snapshot that does not open means the secret files of the nodes differ.',
  },
  160011: {
    severity: 4,
    text: 'took over {adopted} media sessions from {node} ({failed} failed) in {ms} ms',
    explanation:
      'The takeover of a dead node\'s sessions ended: that many calls are relayed by this node now, marked "taken over from NODE" in show phone-proxy media-sessions; each failed one has its %PPX-3-160010 line.',
    action:
      'Check the calls have audio; restart the dead node once its cause is known (it joins as a node with no sessions).',
  },
  160012: {
    severity: 4,
    text: 'media session {session} taken over from {from}',
    explanation:
      "A session of the dead node runs here now: the same addresses, ports and keys, its SRTP streams continued from the snapshot. The line's outside and inside fields name its ports, snapshotAgeMs the age of the copy.",
    action: 'None: one line per call taken over; %PPX-4-160011 sums the takeover up.',
  },
  160020: {
    severity: 4,
    text: 'media workers use node:dgram, not the batched socket path: {reason}',
    explanation:
      'media-termination.socket-io is auto and the native addon (dist/src/media/native/udp-batch.node, built by npm run build with a C compiler) is missing or does not load: media is relayed as before, at a higher CPU cost per packet.',
    action:
      "Rebuild with a C compiler and Node's headers (npm run build), or set socket-io: dgram to choose node:dgram and silence this.",
  },
  // ---- 170: the appliance cluster
  170001: {
    severity: 3,
    text: 'STARTING ALONE: Redis {redis} unreachable ({cause}); this node shares no state until it answers (start-without-redis)',
    explanation:
      'Redis did not answer within 5 s at start and appliance-cluster.start-without-redis is true: the node serves with its local state only, and joins the cluster (publishing its state) when Redis answers (docs/cluster.md §5).',
    action:
      "Check that Redis (or the Sentinels) runs and is reachable from this node with the policy's address, credentials and TLS; show cluster says when the link is up.",
  },
  170002: {
    severity: 4,
    text: 'Redis: {err}',
    explanation:
      'The connection to Redis reported an error (refused, timed out, TLS or authentication failure) at start or while it was up; the failed reconnects of an outage are not logged, %PPX-4-170010 says the outage once.',
    action: "The error names the cause: check appliance-cluster's address, user and password, and TLS files.",
  },
  170003: {
    severity: 4,
    text: 'cluster message on {channel}: {err}',
    explanation:
      'A message another node published on a cluster channel (pp:ctl, pp:phones, pp:cmd, pp:ldc, pp:media) made its handler here fail; that message was ignored.',
    action:
      'Nodes of different releases, or another writer on the pp: channels; report it with the error if every node runs the same release.',
  },
  170004: {
    severity: 4,
    text: 'subscribe {channel}: {err}',
    explanation:
      "Redis refused the subscription to a cluster channel (an ACL without it, for example): this node does not hear the other nodes' announcements on it (CTL changes, phone records, LDCs, media sessions, cluster commands).",
    action: "Allow the appliance's Redis user the pp:* channels (&pp:*) and restart the node.",
  },
  170005: {
    severity: 4,
    text: 'cluster outbox full ({max}): oldest writes dropped',
    explanation:
      "More writes to Redis wait than the outbox holds (10 000, one per key), as in a long outage with many phones; the oldest were dropped, counted in phone_proxy_cluster_outbox_dropped_total. In an outage, the resync when Redis returns writes the node's state again.",
    action: 'While Redis is up, it cannot keep up: check its latency and load (show cluster counts the drops).',
  },
  170006: {
    severity: 4,
    text: 'cluster flush: {err}',
    explanation:
      'Sending a batch of queued writes to Redis failed other than by a lost connection (which is not logged: the resync covers it); that batch is lost.',
    action: 'A bug: report it with the error. A restart of the node publishes its state again.',
  },
  170007: {
    severity: 4,
    text: 'cluster: {failed} Redis writes failed',
    explanation:
      'Redis answered writes of a batch with errors (out of memory under maxmemory, a read-only replica, a command the ACL forbids); they are not retried, counted in phone_proxy_cluster_redis_failed_commands_total.',
    action:
      "Check Redis's log and INFO: maxmemory, the role of the server the node writes to (the primary; with Sentinel, the policy's sentinels and name), the ACL of the appliance's user.",
  },
  170008: {
    severity: 4,
    text: 'Redis {redis} reachable again: re-publishing local state',
    explanation:
      'Redis answers again after an outage or a start alone: the node writes its state again (trust, CTL records, secure phones, LDCs, media sessions), so a Redis restarted empty is refilled; counted in phone_proxy_cluster_resyncs_total.',
    action: 'None: it ends the outage of %PPX-4-170010 or the start of %PPX-3-170001.',
  },
  170009: {
    severity: 4,
    text: 'cluster resync of {name}: {err}',
    explanation:
      "One publisher (trust, ctl, secure-phones, ldc, media) failed to write its state again after Redis returned; the others went on. The other nodes miss that part of this node's state until it changes.",
    action: 'A bug: report it with the error. Restarting the node publishes its state again.',
  },
  170010: {
    severity: 4,
    text: 'Redis {redis} unreachable ({why}): serving alone until it returns',
    explanation:
      'The connection to Redis closed: the node serves on from its local copies, its writes wait in the outbox, reads (show --cluster) fail, reconnects back off to 5 s and never stop (docs/cluster.md §5); counted in phone_proxy_cluster_redis_outages_total.',
    action:
      'Check Redis (or a Sentinel failover) and the path to it; %PPX-4-170008 says when it is back. Calls and registrations go on meanwhile.',
  },
  170011: {
    severity: 4,
    text: 'installed the cluster trust published by node {from}',
    explanation:
      "At start, the trust in Redis (SAST key pairs, generated trustpoints, LDC key pair) differed from this node's state directory and was written into it (the files field counts the files replaced), so this node signs with the cluster's keys and serves the same CTL (docs/cluster.md §3).",
    action:
      'Expected at the first start of a node in the cluster or after its state directory was rebuilt; otherwise find out why it differed (a node that once started alone with a new state directory).',
  },
  170012: {
    severity: 4,
    text: 'cluster trust: Redis unreachable, using the trust in the state directory',
    explanation:
      "The node started alone and could not read the cluster's trust: it uses the one installed at an earlier start. A node that never joined generates its own keys, and its CTL and certificates are not the cluster's (its trust is not replaced when Redis returns).",
    action: 'If this node never joined the cluster, restart it once Redis answers, so it installs the cluster trust.',
  },
  170013: {
    severity: 4,
    text: 'cluster CTL: the node record set {key} does not parse; left out',
    explanation:
      "A node's CTL records in Redis (pp:ctl-records:<node>) are not a record set this release reads, or name another node than their key; the CTL is built from the other sets without them.",
    action:
      'Nodes of different releases, or a value written by hand: restart that node to publish its set again, or redis-cli DEL pp:<key> if the node is gone.',
  },
  170014: {
    severity: 4,
    text: 'cluster CTL rebuild failed; the last CTL stays: {err}',
    explanation:
      "Rebuilding the CTL after a node announced a change of its records failed: reading the record sets from Redis (an outage, a timeout), or signing; the phones keep getting the CTL served so far, which may lack the new node's records.",
    action:
      "After an outage the rebuild runs again when Redis returns; otherwise the error names the cause. Any node's next change rebuilds it.",
  },
  170015: {
    severity: 4,
    text: 'cluster LDC {key} does not open; left out: {err}',
    explanation:
      "An LDC another node minted (in Redis, or announced on pp:ldc) does not open with this node's secret file: sealed under a key the file does not hold, altered, or not an LDC record. It is left out; the LDC is minted again where a phone needs it (docs/cluster.md §4).",
    action:
      'Expected after a key rotation for records still sealed under the removed key; otherwise give every node the same appliance-cluster.secret-file.',
  },
  170016: {
    severity: 4,
    text: 'cluster commands up to {upTo}: {missed} missed during the outage are gone from Redis; not applied here',
    explanation:
      'Back from an outage, the node applies the cluster-wide commands (clear … --cluster) sent meanwhile from the log in Redis (pp:cmd-log:<n>, kept a day, the last 1000 read); these were no longer there: the outage lasted longer, or Redis restarted empty.',
    action:
      'Run the clear again (clear phone-proxy secure-phones|media-sessions … --cluster) if it was meant for this node too; show … --cluster lists what is left.',
  },
  // ---- 180: packet capture
  180001: {
    severity: 4,
    text: 'CAPTURE {capture} WRITES DECRYPTED MEDIA (clear audio) to {file}: stop it with "no capture {capture}", delete the file when done',
    explanation:
      'A capture was started with --decrypted: the media of the calls it matches is written in clear to that file, which anyone who can read it can play. Logged at every such start.',
    action:
      'Make sure it was meant (troubleshooting SRTP); stop the capture once the trace is taken and delete the clear file when done.',
  },
  180002: {
    severity: 4,
    text: 'capture {capture}: no media termination: --media captures nothing',
    explanation:
      'A capture asked for media where no media termination runs (a process built without it: the appliance daemon always runs one); the capture holds the signaling only.',
    action: 'Capture the media on the appliance that relays it.',
  },
  180003: {
    severity: 4,
    text: 'media capture not applied to session {session}: {err}',
    explanation:
      "The media worker of a session did not take what the running captures tap on its outside leg (the session was released meanwhile, or its worker was restarting): a --media capture may miss that session's media. Counted as capture-failed in show media-termination.",
    action: 'If the media is needed, start the capture again (no capture NAME, then capture).',
  },
  // ---- 190: CAPF relay
  190001: {
    severity: 4,
    text: 'policy: {path}: {problem}',
    explanation:
      'The policy is valid but says something about the CAPF relay that is likely not meant (phone-proxy check prints the same as a warning): a CTL capf record with an address while listen.capf is off, or a capf-server with no relay.',
    action:
      "Set listen.capf to relay LSC enrolment to CAPF (docs/capf.md), or drop the capf record's address (it then only anchors LSCs) or the capf-server section.",
  },
  190002: {
    severity: 4,
    text: 'CAPF relay refused {remote}: {limit} ({code})',
    explanation:
      'A connection to the CAPF relay was refused before anything was read or dialled: capf-relay.max-connections or max-connections-per-source was reached. Rate-limited per kind; every refusal is counted.',
    action:
      'Many phones enrolling at once behind one NAT: raise capf-relay.max-connections-per-source; otherwise a flood from that source (show phone-proxy capf).',
  },
  190003: {
    severity: 4,
    text: 'CAPF relay closed {remote}: {reason} ({code})',
    explanation:
      'A connection through the CAPF relay was closed by one of its bounds: no first byte in capf-relay.first-byte-timeout, a first byte that is not a TLS handshake record, capf-relay.max-duration or capf-relay.max-bytes passed. Rate-limited per kind.',
    action:
      'Scanners and silent probes end here; a real phone closed this way means a bound too tight for its enrolment (slow key generation: raise max-duration).',
  },
  190004: {
    severity: 3,
    text: 'CAPF relay: CAPF {upstream} not reached for {remote}: {err} ({code})',
    explanation:
      "The relay could not open the TCP connection to UCM's CAPF (refused, unreachable, or no answer within capf-server.timeout); the phone's connection was closed. Rate-limited per kind.",
    action:
      "Check that the Cisco Certificate Authority Proxy Function service runs on the node capf-server names (default the first cluster member) and that the appliance's inside interface reaches it on that port.",
  },
  190005: {
    severity: 4,
    text: 'CAPF relay listener {listener} failed to accept: {err} ({code})',
    explanation:
      "The CAPF relay's listener could not accept a connection (out of file descriptors); it keeps listening.",
    action:
      "Raise the process's file limit (LimitNOFILE), or lower capf-relay.max-connections; show resources shows the budget.",
  },
} as const satisfies Record<number, MessageSpec>;

export type MessageId = keyof typeof MESSAGES;

/** The `{name}` placeholders of a template, as a union of names. */
type Placeholders<S extends string> = S extends `${string}{${infer P}}${infer Rest}` ? P | Placeholders<Rest> : never;

/** The fields a message needs (every placeholder), and any others the line carries. */
export type MessageFields<I extends MessageId> = {
  [K in Placeholders<(typeof MESSAGES)[I]['text']>]: unknown;
} & Record<string, unknown>;

/** `PPX-4-120003`: the tag without the `%` the human-readable forms put before it. */
export function messageTag(id: MessageId): string {
  return `PPX-${MESSAGES[id].severity}-${id}`;
}

/** A field value as it goes into a line: one line, printable, bounded (values may come from peers). */
function fieldText(v: unknown): string {
  return printable(typeof v === 'string' ? v : v instanceof Error ? v.message : (JSON.stringify(v) ?? String(v)), 256);
}

/** The template filled in from the fields. */
export function messageText<I extends MessageId>(id: I, fields: MessageFields<I>): string {
  return MESSAGES[id].text.replace(/\{([A-Za-z]+)\}/g, (_m, k: string) =>
    fieldText((fields as Record<string, unknown>)[k]),
  );
}

/** The arguments of a pino warn/error call for message `id`: its fields with `msgId`, and its text. */
export function ppx<I extends MessageId>(id: I, fields: MessageFields<I>): [Record<string, unknown>, string] {
  return [{ msgId: messageTag(id), ...fields }, messageText(id, fields)];
}
