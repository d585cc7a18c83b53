// A `modelplane` process started with an IPC channel (local mode starts its replicas and optimise steps so) ends
// with the process that started it: the channel closes when the parent exits, however it ends, SIGKILL included, so
// no replica outlives local mode. It ends as on SIGTERM (a replica drains, with local mode's zero drain window),
// and at once if that has not ended it within a few seconds.
export const PARENT_GONE_EXIT_MS = 3000;

export function exitWithParent(proc: NodeJS.Process = process): void {
  if (!proc.channel) return;
  // The channel alone does not keep this process alive.
  proc.channel.unref();
  proc.once('disconnect', () => {
    setTimeout(() => proc.exit(1), PARENT_GONE_EXIT_MS).unref();
    proc.kill(proc.pid, 'SIGTERM');
  });
}
