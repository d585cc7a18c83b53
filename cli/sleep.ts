// `modelplane sleep <seconds>`: the runtime pod's preStop hook. It keeps a terminating pod serving while the
// endpoints controller removes it from the Service, and works on every Kubernetes version and image (the
// kubelet's own sleep action needs Kubernetes 1.30; the runtime image has no shell).
import { Command, InvalidArgumentError } from 'commander';

export function parseSleepSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 3600) throw new InvalidArgumentError('seconds must be a number from 0 to 3600');
  return n;
}

export function registerSleep(program: Command): void {
  program
    .command('sleep')
    .description('Wait the given seconds, then exit 0 (the runtime pod\'s preStop hook)')
    .argument('<seconds>', 'seconds to wait (0 to 3600, fractions allowed)', parseSleepSeconds)
    .action(async (seconds: number) => {
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    });
}
