/** Version facts for `show version`, read once from package.json. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

function findPackageJson(): { name: string; version: string } {
  // From src/ (ts-jest) or dist/src/ (compiled): walk up to the project root.
  for (let dir = __dirname, n = 0; n < 4; n++, dir = path.dirname(dir)) {
    try {
      return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
      };
    } catch {
      /* keep walking */
    }
  }
  return { name: 'phone-proxy', version: 'unknown' };
}

export const PACKAGE = findPackageJson();
