/**
 * IPv4 literals as numbers on the media path (capture filters, batched sends), without
 * splitting or making strings.
 */

/** Dotted IPv4 to its value by character codes (no split, no strings made); 0 if it is not one (0.0.0.0 is never a media address). */
export function ipv4Value(s: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return 0;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return 0;
    } else return 0;
  }
  if (dots !== 3 || digits === 0) return 0;
  return (n * 256 + part) >>> 0;
}
