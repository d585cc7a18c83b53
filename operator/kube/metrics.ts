// The operator's Prometheus metrics, in a registry of its own so two operators in one process stay apart.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  reconcileDuration: Histogram;
  queueDepth: Gauge;
  statusWrites: Counter;
  childApplies: Counter<'kind'>;
  informerRestarts: Counter<'informer' | 'reason'>;
  informerLists: Counter<'informer'>;
  forbidden: Counter<'verb' | 'resource'>;
  leader: Gauge;
}

export function createMetrics(queueDepth: () => number, defaultMetrics = true): OperatorMetrics {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'modelplane_operator_' });
  return {
    registry,
    reconciles: new Counter({ name: 'modelplane_operator_reconcile_total', help: 'Reconciles of a ModelDeployment key by result (success, error, conflict).', labelNames: ['result'], registers: [registry] }),
    reconcileDuration: new Histogram({ name: 'modelplane_operator_reconcile_duration_seconds', help: 'Time one reconcile took.', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    queueDepth: new Gauge({ name: 'modelplane_operator_workqueue_depth', help: 'Keys waiting in the work queue.', registers: [registry], collect() { this.set(queueDepth()); } }),
    statusWrites: new Counter({ name: 'modelplane_operator_status_writes_total', help: 'ModelDeployment status updates written.', registers: [registry] }),
    childApplies: new Counter({ name: 'modelplane_operator_child_applies_total', help: 'Server-side applies of child objects by kind.', labelNames: ['kind'], registers: [registry] }),
    informerRestarts: new Counter({ name: 'modelplane_operator_informer_restarts_total', help: 'Informer restarts after an error or a silent watch.', labelNames: ['informer', 'reason'], registers: [registry] }),
    informerLists: new Counter({ name: 'modelplane_operator_informer_lists_total', help: 'Full lists an informer made: at start, after a restart, and when its watch expired (410 Gone).', labelNames: ['informer'], registers: [registry] }),
    forbidden: new Counter({ name: 'modelplane_operator_forbidden_requests_total', help: 'Requests the API server refused with 403 (missing RBAC), by verb and resource.', labelNames: ['verb', 'resource'], registers: [registry] }),
    leader: new Gauge({ name: 'modelplane_operator_leader', help: '1 while this process holds the leader lease.', registers: [registry] }),
  };
}
