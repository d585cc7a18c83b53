// Installing Modelplane on a real Kubernetes API server, as a user does: the CRD in every form we ship (crds/,
// the chart's copy, `modelplane crd`), the chart rendered with its CRDs and applied with kubectl, and every
// ModelDeployment in examples/, README and docs/ accepted by a server-side dry run.
import { expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { helm, kubectl } from '../support/helm.js';
import { REPO, runCli } from '../support/runtime-process.js';
import { blocks, DOCS } from '../support/docs.js';
import { describeOnRealCluster, freshNamespace } from '../support/kube/real-cluster.js';

const work = mkdtempSync(join(tmpdir(), 'modelplane-install-'));
const write = (name: string, text: string) => {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
};

describeOnRealCluster('installing Modelplane', (cluster) => {
  const k = (...args: string[]) => kubectl(['--kubeconfig', cluster.kubeconfig, ...args], 60_000);

  it('takes the CRD from crds/, from the chart and from `modelplane crd`', async () => {
    const printed = await runCli(['crd']);
    expect(printed.code).toBe(0);
    for (const file of [join(REPO, 'crds'), join(REPO, 'charts', 'modelplane', 'crds'), write('printed-crd.yaml', printed.stdout)]) {
      const r = await k('apply', '--dry-run=server', '-f', file);
      expect({ file, stderr: r.stderr, code: r.code }).toEqual({ file, stderr: '', code: 0 });
    }
    const crd = JSON.parse((await k('get', 'crd', 'modeldeployments.serving.modelplane.io', '-o', 'json')).stdout) as { status: { conditions: Array<{ type: string; status: string }> } };
    expect(crd.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Established', status: 'True' })]));
  });

  it('installs the chart rendered with its CRDs (helm template --include-crds | kubectl apply)', async () => {
    const ns = await freshNamespace(cluster.kc, 'modelplane-system');
    const rendered = await helm(['template', 'mp', join(REPO, 'charts', 'modelplane'), '--namespace', ns, '--include-crds']);
    expect(rendered.code).toBe(0);
    const applied = await k('apply', '-n', ns, '-f', write('chart.yaml', rendered.stdout));
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const kinds = (yaml.loadAll(rendered.stdout) as Array<{ kind: string; metadata: { name: string } } | null>).filter((o) => o !== null);
    for (const o of kinds.filter((x) => x.kind === 'Deployment' || x.kind === 'ServiceAccount' || x.kind === 'ClusterRole')) {
      expect((await k('get', o.kind.toLowerCase(), o.metadata.name, '-n', ns, '-o', 'name')).code).toBe(0);
    }
  });

  it('accepts every ModelDeployment in examples/, README and docs/ (server-side dry run)', async () => {
    const ns = await freshNamespace(cluster.kc, 'docs');
    const sources = [
      ...readdirSync(join(REPO, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => ({ where: `examples/${f}`, text: readFileSync(join(REPO, 'examples', f), 'utf8') })),
      ...DOCS.flatMap(blocks).filter((b) => b.lang === 'yaml').map((b) => ({ where: `${b.file}:${b.line}`, text: b.text })),
    ];
    let checked = 0;
    for (const { where, text } of sources) {
      const mds = (yaml.loadAll(text) as Array<{ kind?: string; metadata?: { namespace?: string } } | null>).filter((o) => o?.kind === 'ModelDeployment');
      for (const md of mds) {
        md!.metadata = { ...md!.metadata, namespace: ns };
        const r = await k('create', '--dry-run=server', '-n', ns, '-f', write(`md-${checked}.yaml`, yaml.dump(md)));
        expect({ where, stderr: r.stderr }).toEqual({ where, stderr: '' });
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });
});
