/**
 * The phone's identity from its certificate (pure). A Cisco LSC's subject CN is the device
 * name (`SEP001122334455`); a MIC's CN is `<model>-SEP<MAC>` (e.g. `CP-8865-SEP001122334455`).
 */
export function deviceNameFromSubject(subject: Record<string, string | string[]> | undefined): string | undefined {
  const cn = subject?.CN;
  const values = Array.isArray(cn) ? cn : cn ? [cn] : [];
  for (const v of values) {
    const m = /(?:^|[^A-Za-z0-9])(SEP[0-9A-Fa-f]{12})(?![0-9A-Fa-f])/.exec(`-${v}`);
    if (m?.[1]) return `SEP${m[1].slice(3).toUpperCase()}`;
  }
  return undefined;
}
