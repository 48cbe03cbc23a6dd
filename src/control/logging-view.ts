/**
 * `show logging`: the log format, level, and the syslog destination with what it sent and
 * dropped (src/syslog.ts); the ASA's `show logging` header.
 */
import type { ShowView } from '../contracts/service';
import type { Logs } from '../log';

export function loggingView(logs: Logs, level: string): ShowView {
  return {
    name: 'logging',
    help: 'log format and level, syslog destination and its sent/dropped counters',
    render() {
      const syslog = logs.syslogStats() ?? null;
      const debug = Object.entries(logs.debugState())
        .filter(([, on]) => on)
        .map(([c]) => c);
      const data = { format: logs.format, level, debug, syslog };
      const t = syslog?.target;
      return {
        data,
        lines: [
          `stderr: ${data.format} lines, level ${level}${debug.length ? `, debug ${debug.join(' ')}` : ''}`,
          syslog && t
            ? `syslog: udp ${t.address}:${t.port} facility ${t.facility}, RFC 5424: ${syslog.sent} sent, ${syslog.dropped} dropped (queue full), ${syslog.errors} send errors${syslog.lastError ? ` (last: ${syslog.lastError})` : ''}`
            : 'syslog: disabled',
        ],
      };
    },
  };
}
