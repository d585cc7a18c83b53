// Path rules every package shares.
import { isAbsolute, relative, sep } from 'node:path';

/** True when `child` is `parent` or lies beneath it (both already resolved). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}
