// Which API group versions the cluster serves (autoscaling/v2 for mode hpa, keda.sh/v1alpha1 for mode keda),
// read through discovery with a deadline and cached, so a reconcile costs no extra call most of the time.
import { ApisApi, type KubeConfig } from '@kubernetes/client-node';
import { makeApiClient, type ApiClientOptions } from '../kube/api-client.js';

export interface ApiAvailability {
  /** Whether the cluster serves this group version (e.g. keda.sh/v1alpha1). */
  served(groupVersion: string): Promise<boolean>;
}

export interface DiscoveryOptions {
  /** How long an answer is reused; a CRD installed later is seen within this time. */
  ttlMs: number;
  now?: () => number;
}

export class ApiDiscovery implements ApiAvailability {
  private cached?: { at: number; groupVersions: Set<string> };
  private inFlight?: Promise<Set<string>>;

  constructor(private readonly fetchGroupVersions: () => Promise<string[]>, private readonly opts: DiscoveryOptions) {}

  /** Discovery through client-node; `client` gives every call its deadline and User-Agent. */
  static forCluster(kc: KubeConfig, client: ApiClientOptions, opts: DiscoveryOptions): ApiDiscovery {
    const apis = makeApiClient(kc, ApisApi, client);
    return new ApiDiscovery(async () => {
      const list = await apis.getAPIVersions();
      return list.groups.flatMap((g) => g.versions.map((v) => v.groupVersion));
    }, opts);
  }

  async served(groupVersion: string): Promise<boolean> {
    const now = (this.opts.now ?? Date.now)();
    if (!this.cached || now - this.cached.at >= this.opts.ttlMs) {
      // One discovery call at a time, however many reconciles ask together.
      this.inFlight ??= this.fetchGroupVersions()
        .then((gvs) => new Set(gvs))
        .finally(() => (this.inFlight = undefined));
      const groupVersions = await this.inFlight;
      this.cached = { at: now, groupVersions };
    }
    return this.cached.groupVersions.has(groupVersion);
  }
}
