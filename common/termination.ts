// Kubernetes reads a container's last words from /dev/termination-log (terminationMessagePath).
import { writeFileSync } from 'node:fs';

export const TERMINATION_LOG = process.env.MODELPLANE_TERMINATION_LOG ?? '/dev/termination-log';

/** Writes the message to the termination log when that path is writable; never throws. */
export function writeTerminationMessage(message: string, path: string = TERMINATION_LOG): boolean {
  try {
    writeFileSync(path, message.slice(0, 4096));
    return true;
  } catch {
    return false;
  }
}
