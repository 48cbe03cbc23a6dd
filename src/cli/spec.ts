/**
 * The command tree of `phone-proxy`: every command, subcommand, argument and option, with its
 * help. Help, usage errors and the bash completion script are all made from this one table, so
 * they cannot disagree. Data only: what runs each command is src/cli/runners.ts.
 */

/** What a value or a free word is, for help text and completion. */
export type ValueKind =
  | { kind: 'file' }
  | { kind: 'dir' }
  | { kind: 'choice'; values: readonly string[] }
  /** Words of a `show`/`clear` view name, asked of the running daemon at completion time. */
  | { kind: 'view'; of: 'show' | 'clear' }
  /** `debug <category> on|off`. */
  | { kind: 'debug' }
  | { kind: 'command' }
  | { kind: 'text' };

export interface OptionSpec {
  name: string;
  /** Placeholder of the value (`FILE`); absent for a boolean flag. */
  value?: string;
  valueKind?: ValueKind;
  multiple?: boolean;
  required?: boolean;
  help: string;
}

export interface ArgSpec {
  name: string;
  required: boolean;
  /** Takes every remaining positional word. */
  variadic?: boolean;
  valueKind: ValueKind;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Paragraphs after the usage line. */
  details?: string[];
  args?: ArgSpec[];
  options?: OptionSpec[];
  subcommands?: CommandSpec[];
  /** Not listed in help (the completion script's helper). */
  hidden?: boolean;
}

/** Mirrors src/log.ts DEBUG_CATEGORIES (which loads pino, too heavy for every CLI start); a test keeps them equal. */
export const DEBUG_CATEGORIES = ['tftp', 'signaling', 'media', 'events', 'errors'] as const;

const FILE: ValueKind = { kind: 'file' };
const DIR: ValueKind = { kind: 'dir' };

const policy = (help = 'the policy'): OptionSpec => ({
  name: 'policy',
  value: 'FILE',
  valueKind: FILE,
  help: `${help} (default: $PHONE_PROXY_POLICY, else policies/default.yaml)`,
});
const state = (help = 'the state directory'): OptionSpec => ({
  name: 'state',
  value: 'DIR',
  valueKind: DIR,
  help: `${help} (default: $PHONE_PROXY_STATE, else ./var)`,
});
const controlDir: OptionSpec = {
  name: 'control-dir',
  value: 'DIR',
  valueKind: DIR,
  help: 'where the control socket is (default: $PHONE_PROXY_CONTROL_DIR, else the state directory; the package: /run/phone-proxy)',
};
const json: OptionSpec = { name: 'json', help: 'print the data as JSON instead of the table' };
/** Views that can take it (secure-phones, media-sessions) answer for every node of the appliance cluster (issue 14). */
const cluster: OptionSpec = {
  name: 'cluster',
  help: 'the whole appliance cluster through Redis (every node; secure-phones, media-sessions), not only this node',
};
const passphrase: OptionSpec[] = [
  { name: 'passphrase-file', value: 'F', valueKind: FILE, help: 'read the passphrase from file F' },
  {
    name: 'passphrase-env',
    value: 'VAR',
    valueKind: { kind: 'text' },
    help: 'read the passphrase from environment variable VAR (without either: stdin; never argv)',
  },
];

export const TREE: CommandSpec = {
  name: 'phone-proxy',
  summary: 'Phone proxy appliance: remote Cisco IP phones ↔ internal Unified CM, over TLS and SRTP',
  subcommands: [
    {
      name: 'start',
      summary: 'run the appliance (foreground)',
      details: [
        'Runs until SIGINT or SIGTERM (exit 0 after a clean stop). SIGHUP does what phone-proxy reload does: the policy is re-read, one that does not validate is refused (the problems on stderr) and the running one kept; what can change live is applied without dropping calls, keys that need a restart are named on stdout and keep their old values.',
      ],
      options: [
        policy(),
        state('the state directory: keys, certificates'),
        controlDir,
        {
          name: 'log-format',
          value: 'FORMAT',
          valueKind: { kind: 'choice', values: ['auto', 'json', 'pretty'] },
          help: 'log lines on stderr: json, pretty (human-readable), auto (pretty on a terminal; default: the policy logging.format)',
        },
      ],
    },
    {
      name: 'check',
      summary: 'validate policies without starting',
      details: ['Exit 1 if any policy is rejected; files a policy names that are not there yet are warnings.'],
      args: [{ name: 'FILE', required: false, variadic: true, valueKind: FILE }],
      options: [{ ...policy('a policy to check; repeat for several'), multiple: true }],
    },
    {
      name: 'import-asa',
      summary: 'an ASA phone-proxy running-config as a policy (YAML on stdout)',
      details: [
        'Unmapped lines and warnings go to stderr and into the YAML header. Exit 1 if the file cannot be read or the imported policy does not validate yet.',
      ],
      args: [{ name: 'RUNNING-CONFIG', required: true, valueKind: FILE }],
      options: [
        {
          name: 'certs',
          value: 'DIR',
          valueKind: DIR,
          help: 'write the certificates found in the running-config into DIR',
        },
      ],
    },
    {
      name: 'show',
      summary: 'ask the running appliance for a view',
      details: [
        'Without words it lists the views the running appliance serves (and exits 1). Examples: show version; show running-policy; show phone-proxy media-sessions --json; show phone-proxy drops --all.',
      ],
      args: [{ name: 'VIEW', required: false, variadic: true, valueKind: { kind: 'view', of: 'show' } }],
      options: [
        json,
        cluster,
        { name: 'all', help: 'every row, zero counters too (show phone-proxy drops)' },
        state('the running appliance\u2019s state directory'),
        controlDir,
      ],
    },
    {
      name: 'clear',
      summary: 'clear sessions, connections, records of the running appliance',
      details: ['Without words it lists what can be cleared (and exits 1). Example: clear phone-proxy secure-phones.'],
      args: [{ name: 'WHAT', required: false, variadic: true, valueKind: { kind: 'view', of: 'clear' } }],
      options: [json, cluster, state('the running appliance\u2019s state directory'), controlDir],
    },
    {
      name: 'reload',
      summary: 'make the running appliance re-read its policy file, applying what can change live',
      details: [
        'The policy is checked as phone-proxy check does; a policy that does not validate is refused, the running one kept, the problems printed (exit 1). Trustpoints, client CAs, ciphers, connection and session limits, timeouts, TFTP rate limits and upstream, and the log level apply at once, without dropping a call or a phone connection. Listeners, interfaces, media addresses and ports, the cluster, the CTL file and the control API need a restart: they are named (exit 0) and keep their old values; show running-policy lists them. Same as SIGHUP (systemctl reload phone-proxy).',
      ],
      options: [
        { ...json, help: 'print the result as JSON' },
        state('the running appliance\u2019s state directory'),
        controlDir,
      ],
    },
    {
      name: 'debug',
      summary: 'switch a debug log category of the running appliance on or off',
      details: [`Categories: ${DEBUG_CATEGORIES.join(', ')}. Example: debug tftp on.`],
      args: [{ name: 'CATEGORY on|off', required: false, variadic: true, valueKind: { kind: 'debug' } }],
      // --json is accepted (and ignored) as it always was: show, clear and debug share one parser.
      options: [
        state('the running appliance\u2019s state directory'),
        controlDir,
        { ...json, help: 'accepted, no effect' },
      ],
    },
    {
      name: 'capture',
      summary: 'capture a phone\u2019s signaling (clear, after TLS) and media into a pcap file',
      details: [
        'Like the ASA\u2019s capture command. Writes <state>/captures/NAME.pcap (mode 0600; --file to choose): the phone\u2019s SIP or SCCP in clear, after TLS termination, on both legs (phone and UCM side) as TCP of the real connections, and with --media its media (SRTP) as received and as sent. --decrypted also writes NAME-decrypted.pcap with that media in clear (after SRTP decryption): it holds the call\u2019s audio, so it is logged loudly; delete it when done.',
        'A capture stops by itself after --duration seconds (default 300, at most 3600) or --max-bytes bytes (default 10 MiB, at most 100 MiB); at most 4 run at once. show capture lists them; no capture NAME stops one; clear capture NAME stops and forgets it.',
        'Read it with tshark; the phone-side listener ports are not the well-known ones, so name the dissector: tshark -r NAME.pcap -d tcp.port==5061,sip -d tcp.port==2443,skinny (and -d udp.port==N,rtp for media, or -o rtp.heuristic_rtp:TRUE).',
      ],
      args: [{ name: 'NAME', required: true, valueKind: { kind: 'text' } }],
      options: [
        { name: 'phone', value: 'IP', valueKind: { kind: 'text' }, help: 'only this phone (default: every phone)' },
        { name: 'media', help: 'also the phone\u2019s media (SRTP as received and as sent)' },
        { name: 'decrypted', help: 'with --media: also the media in clear, into NAME-decrypted.pcap (clear audio!)' },
        {
          name: 'duration',
          value: 'S',
          valueKind: { kind: 'text' },
          help: 'stop after S seconds (default 300, at most 3600)',
        },
        {
          name: 'max-bytes',
          value: 'N',
          valueKind: { kind: 'text' },
          help: 'stop once the file(s) hold N bytes (default 10485760, at most 104857600)',
        },
        { name: 'file', value: 'FILE.pcap', valueKind: FILE, help: 'write here instead (must not exist yet)' },
        json,
        state('the running appliance\u2019s state directory'),
        controlDir,
      ],
    },
    {
      name: 'no',
      summary: 'undo a running command of the appliance: no capture NAME',
      subcommands: [
        {
          name: 'capture',
          summary: 'stop a packet capture (it stays in show capture, its files stay)',
          args: [{ name: 'NAME', required: true, valueKind: { kind: 'text' } }],
          options: [json, state('the running appliance\u2019s state directory'), controlDir],
        },
      ],
    },
    {
      name: 'ctl',
      summary: 'CTL files: inspect and verify, build offline, phone acceptance check',
      subcommands: [
        {
          name: 'show',
          summary: 'print a CTL file\u2019s records and verify its signature',
          details: ['Exit 1 if the signature does not verify, 2 if FILE is not a CTL file.'],
          args: [{ name: 'FILE', required: true, valueKind: FILE }],
          options: [{ name: 'json', help: 'print the file as JSON' }],
        },
        {
          name: 'build',
          summary: 'build the appliance\u2019s CTL file offline from the policy and the state\u2019s keys',
          options: [
            { name: 'out', value: 'FILE', valueKind: FILE, required: true, help: 'where to write the CTL file' },
            policy(),
            state('the state directory, where missing keys are generated'),
          ],
        },
        {
          name: 'accept',
          summary: 'would a phone holding the installed CTL accept the new one?',
          details: ['Prints ACCEPT (exit 0) or REFUSE (exit 1) and why.'],
          options: [
            {
              name: 'installed',
              value: 'OLD',
              valueKind: FILE,
              required: true,
              help: 'the CTL file the phone holds now',
            },
            { name: 'new', value: 'NEW', valueKind: FILE, required: true, help: 'the CTL file it would be offered' },
          ],
        },
      ],
    },
    {
      name: 'sign',
      summary: 'sign a configuration file (FILE.sgn), or verify one with --verify',
      details: [
        'Signs with the TFTP (or CCM+TFTP) key of the state directory. With --verify, checks FILE against --cert and --ctl certificates (without either: the state directory\u2019s); exit 1 if it does not verify.',
      ],
      args: [{ name: 'FILE', required: true, valueKind: FILE }],
      options: [
        { name: 'verify', help: 'verify FILE (a .sgn) instead of signing it' },
        {
          name: 'digest',
          value: 'sha1|sha512',
          valueKind: { kind: 'choice', values: ['sha1', 'sha512'] },
          help: 'signature digest when signing (default: sha1)',
        },
        { name: 'out', value: 'FILE', valueKind: FILE, help: 'where to write the signed file (default: FILE.sgn)' },
        policy(),
        state(),
        {
          name: 'cert',
          value: 'PEM',
          valueKind: FILE,
          multiple: true,
          help: 'with --verify: a trusted certificate; repeat for several',
        },
        {
          name: 'ctl',
          value: 'CTLFile.tlv',
          valueKind: FILE,
          help: 'with --verify: trust the CTL file\u2019s TFTP records',
        },
      ],
    },
    {
      name: 'sast',
      summary: 'SAST keys as passphrase-protected PKCS#12, for a replacement box',
      subcommands: [
        {
          name: 'export',
          summary: 'write the state directory\u2019s SAST keys to a PKCS#12 file (mode 0600)',
          details: ['The passphrase (at least 8 characters) comes from a file, the environment or stdin, never argv.'],
          options: [
            { name: 'out', value: 'FILE.p12', valueKind: FILE, required: true, help: 'the PKCS#12 file to write' },
            state(),
            ...passphrase,
          ],
        },
        {
          name: 'import',
          summary: 'install SAST keys from PKCS#12 files into the state directory',
          details: ['Every key is validated before any is written: a bad file changes nothing.'],
          args: [{ name: 'FILE.p12', required: true, variadic: true, valueKind: FILE }],
          options: [
            state(),
            policy('the policy whose ctl-file the keys must belong to'),
            {
              name: 'ctl',
              value: 'INSTALLED.tlv',
              valueKind: FILE,
              help: 'also require the keys to match this CTL file\u2019s SAST records',
            },
            ...passphrase,
          ],
        },
      ],
    },
    {
      name: 'pki',
      summary: 'certificates of the appliance\u2019s PKI',
      subcommands: [
        {
          name: 'export',
          summary: 'print the LDC issuer certificate (PEM) to upload to UCM\u2019s CallManager-trust',
          details: [
            'Reads the state directory only. Exit 1 if the policy has no tls-proxy.ldc-issuer or it was never generated.',
          ],
          args: [{ name: 'ldc-issuer', required: true, valueKind: { kind: 'choice', values: ['ldc-issuer'] } }],
          options: [policy(), state()],
        },
      ],
    },
    {
      name: 'completion',
      summary: 'print a shell completion script',
      details: [
        'Load it with: source <(phone-proxy completion bash), or install it as /usr/share/bash-completion/completions/phone-proxy. Words after show and clear are completed by asking the running appliance (--state, or $PHONE_PROXY_STATE) for its views, with a 0.5 s timeout.',
      ],
      args: [{ name: 'SHELL', required: true, valueKind: { kind: 'choice', values: ['bash'] } }],
    },
    {
      name: 'help',
      summary: 'help for a command: phone-proxy help ctl build',
      args: [{ name: 'COMMAND', required: false, variadic: true, valueKind: { kind: 'command' } }],
    },
    {
      name: '__complete',
      summary: 'completion helper: next words of show/clear view names from the running appliance',
      hidden: true,
      args: [{ name: 'WORD', required: true, variadic: true, valueKind: { kind: 'text' } }],
      options: [state(), controlDir],
    },
  ],
};

export const EXIT_CODES: readonly { code: number; meaning: string }[] = [
  { code: 0, meaning: 'success (start: stopped cleanly by SIGINT/SIGTERM)' },
  {
    code: 1,
    meaning:
      'the operation failed: policy rejected, appliance not running or refusing the request, signature not verified, CTL refused, key or file problem',
  },
  {
    code: 2,
    meaning:
      'usage error: unknown command or option, missing or extra argument, bad option value, or a named input that is not what the command takes (ctl show on a non-CTL file)',
  },
];
