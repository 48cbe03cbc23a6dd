/**
 * `interface …` blocks → policy interfaces. The ASA's trust model is the security level: 0 is
 * the untrusted side, where the remote phones are, so that (or the interface named outside)
 * gets role outside; everything else is inside.
 */
import type { PolicyInterface } from '../policy-schema';
import { isIpv4, maskToPrefix } from './addresses';
import type { Ledger } from './ledger';
import { type ConfigLine, startsWith } from './parse-config';

export interface AsaInterface extends PolicyInterface {
  /** The interface's own address, without the prefix. */
  own: string;
  prefix: number;
  securityLevel: number | undefined;
  node: ConfigLine;
}

const HOST_SETTING = 'interface hardware setting: configure it on the appliance host';

function readInterface(node: ConfigLine, ledger: Ledger): AsaInterface | undefined {
  let name: string | undefined;
  let securityLevel: number | undefined;
  let address: { own: string; prefix: number } | undefined;
  let skip: string | undefined;
  for (const c of node.children) {
    if (startsWith(c, 'nameif') && c.words[1]) {
      name = c.words[1];
      ledger.use(c);
    } else if (startsWith(c, 'security-level')) {
      const level = Number(c.words[1]);
      if (Number.isInteger(level) && level >= 0 && level <= 100) {
        securityLevel = level;
        ledger.use(c);
      } else {
        ledger.unmapped(c, 'malformed: expected security-level 0-100');
      }
    } else if (startsWith(c, 'ip', 'address', 'dhcp') || startsWith(c, 'ip', 'address', 'pppoe')) {
      ledger.unmapped(c, 'address assigned at run time: the policy needs a fixed address/prefix');
    } else if (startsWith(c, 'ip', 'address')) {
      const prefix = maskToPrefix(c.words[3]);
      if (isIpv4(c.words[2]) && prefix !== undefined) {
        address = { own: c.words[2], prefix };
        ledger.use(c);
        if (startsWith(c, 'ip', 'address', c.words[2] ?? '', c.words[3] ?? '', 'standby')) {
          ledger.warn(`interface ${node.words[1]}: standby address ${c.words[5]} ignored (no failover pair)`, c);
        }
      } else {
        ledger.unmapped(c, 'malformed: expected ip address A.B.C.D MASK');
      }
    } else if (startsWith(c, 'no', 'nameif') || startsWith(c, 'no', 'security-level') || startsWith(c, 'no', 'ip')) {
      ledger.use(c);
    } else if (startsWith(c, 'shutdown')) {
      ledger.use(c);
      skip = 'it is shut down';
    } else if (startsWith(c, 'management-only')) {
      ledger.use(c);
      skip = 'it is management-only';
    } else if (startsWith(c, 'description')) {
      ledger.unmapped(c, 'description (a comment)');
    } else if (startsWith(c, 'vlan')) {
      ledger.unmapped(c, 'VLAN tagging: create the VLAN interface on the appliance host');
    } else {
      ledger.unmapped(c, HOST_SETTING);
    }
  }
  if (!name || !address) {
    ledger.unmapped(node, 'no nameif and address: not an interface of the phone proxy');
    return undefined;
  }
  if (skip) {
    ledger.use(node);
    ledger.warn(`interface ${name} left out: ${skip}`, node);
    return undefined;
  }
  ledger.use(node);
  return {
    name,
    address: `${address.own}/${address.prefix}`,
    own: address.own,
    prefix: address.prefix,
    role: 'inside',
    securityLevel,
    node,
  };
}

export function mapInterfaces(commands: ConfigLine[], ledger: Ledger): AsaInterface[] {
  const found: AsaInterface[] = [];
  for (const node of commands) {
    if (!startsWith(node, 'interface')) continue;
    const i = readInterface(node, ledger);
    if (i) found.push(i);
  }
  for (const i of found) {
    if (i.securityLevel === 0 || i.name.toLowerCase() === 'outside') i.role = 'outside';
  }
  if (found.length > 0 && !found.some((i) => i.role === 'outside')) {
    // No level-0 interface: the least trusted one is where the phones come from.
    const lowest = Math.min(...found.map((i) => i.securityLevel ?? 100));
    for (const i of found) {
      if ((i.securityLevel ?? 100) === lowest) {
        i.role = 'outside';
        ledger.warn(
          `interface ${i.name}: role outside because it has the lowest security level (${lowest}); check it is where the phones are`,
          i.node,
        );
      }
    }
  }
  return found;
}

/** The interface whose subnet holds `address`. */
export function interfaceFor(interfaces: AsaInterface[], address: string): AsaInterface | undefined {
  const toInt = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const a = toInt(address);
  return interfaces.find((i) => {
    const size = 2 ** (32 - i.prefix);
    const base = Math.floor(toInt(i.own) / size) * size;
    return a >= base && a < base + size;
  });
}
