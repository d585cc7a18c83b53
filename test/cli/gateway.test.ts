// `modelplane gateway`'s flags: the defaults the chart relies on, durations and sizes parsed by the common parsers,
// and the refusals that name the flag.
import { describe, expect, it } from '@jest/globals';
import { clusterGatewaySettings, gatewayCommand, type ClusterGatewayCliOptions } from '../../cli/gateway.js';
import { SERVE_DEFAULTS } from '../../common/serve-contract.js';

function settingsOf(argv: string[]) {
  const cmd = gatewayCommand().exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  cmd.parse(argv, { from: 'user' });
  return clusterGatewaySettings(cmd.opts() as ClusterGatewayCliOptions);
}

describe('modelplane gateway flags', () => {
  it('defaults: HTTP 8080, gRPC 8081, health 9090, all namespaces, five minutes of activation, 1000 held, the runtime\'s body limit', () => {
    expect(settingsOf([])).toEqual({
      namespaces: [], host: '0.0.0.0', port: 8080, grpcPort: 8081, healthPort: 9090, activationTimeoutMs: 300_000, maxHeldRequests: 1000,
      maxBodyBytes: SERVE_DEFAULTS.maxBodyBytes, upstreamTimeoutMs: 300_000, requestTimeoutMs: 30_000, watchTimeoutSeconds: 300, drainTimeoutMs: 30_000, logLevel: 'info',
    });
  });

  it('reads every flag', () => {
    expect(settingsOf(['-n', 'ml', '-n', 'serving,ml', '--kubeconfig', '/k', '--port', '0', '--grpc-port', '0', '--health-port', '0', '--activation-timeout', '90', '--max-held-requests', '5', '--max-body-bytes', '1024', '--api-keys', '/etc/keys', '--api-timeout', '5s', '--drain-timeout', '1m']))
      .toMatchObject({ namespaces: ['ml', 'serving'], kubeconfig: '/k', port: 0, grpcPort: 0, healthPort: 0, activationTimeoutMs: 90_000, maxHeldRequests: 5, maxBodyBytes: 1024, apiKeys: '/etc/keys', requestTimeoutMs: 5000, drainTimeoutMs: 60_000 });
  });

  it.each([
    [['--port', '70000'], /--port: must be an integer from 0 to 65535/],
    [['--activation-timeout', 'soon'], /--activation-timeout/],
    [['--max-held-requests', '0'], /--max-held-requests/],
    [['--port', '9090'], /--port and --health-port: both 9090/],
  ])('refuses %j', (argv, message) => {
    expect(() => settingsOf(argv)).toThrow(message);
  });
});
