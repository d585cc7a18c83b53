// Kubernetes reads a container's last words from /dev/termination-log (terminationMessagePath).
import { closeSync, constants, openSync, writeSync } from 'node:fs';

export const TERMINATION_LOG = process.env.MODELPLANE_TERMINATION_LOG ?? '/dev/termination-log';

/**
 * Writes the message to the termination log when that file exists (the kubelet creates it); never creates it, so
 * a developer's machine gets no stray file, and never throws.
 */
export function writeTerminationMessage(message: string, path: string = TERMINATION_LOG): boolean {
  let fd: number | undefined;
  try {
    // No O_CREAT: a missing file stays missing.
    fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
    writeSync(fd, message.slice(0, 4096));
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // nothing more to do
      }
    }
  }
}
