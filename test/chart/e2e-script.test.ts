// The kind e2e path cannot run here (no Docker, no cluster), so what can drift is checked: the script parses,
// the chart values it sets exist and render, the files it applies exist, and the workflow runs the script.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { helm } from '../support/helm.js';
import { isGatewayObject, parseManifests } from './kube-schemas.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'e2e-kind.sh');
const script = readFileSync(SCRIPT, 'utf8');

describe('kind e2e path', () => {
  test('the script is executable bash that parses', () => {
    expect(statSync(SCRIPT).mode & 0o111).not.toBe(0);
    expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    execFileSync('bash', ['-n', SCRIPT]);
  });

  test('the chart values the script sets exist and render', async () => {
    const sets = [...script.matchAll(/--set (\S+?)=("?\$\w+"?|\S+)/g)].map(([, key, value]) => `${key}=${value.includes('$') ? 'e2e-1' : value}`);
    expect(sets.length).toBeGreaterThan(3);
    const r = await helm(['template', 'modelplane', join(ROOT, 'charts', 'modelplane'), '-n', 'modelplane-system', ...sets.flatMap((s) => ['--set', s])]);
    expect(r.stderr).toBe('');
    const deployment = parseManifests(r.stdout).find((o) => o.kind === 'Deployment' && !isGatewayObject(o)) as unknown as {
      spec: { template: { spec: { containers: Array<{ image: string; args: string[] }> } } };
    };
    const [c] = deployment.spec.template.spec.containers;
    expect(c.image).toBe('modelplane/operator:e2e-1');
    expect(c.args).toContain('--runtime-image=modelplane/runtime:e2e-1');
  });

  test('the files it applies exist and the ModelDeployment it waits for is the one in the example', () => {
    for (const [, file] of script.matchAll(/-f (examples\/\S+\.yaml)/g)) expect(existsSync(join(ROOT, file))).toBe(true);
    const cpu = parseManifests(readFileSync(join(ROOT, 'examples', 'cpu.yaml'), 'utf8'))[0];
    expect(script).toContain(`mdp/${cpu.metadata.name}`);
    expect(script).toContain(`svc/${cpu.metadata.name}`);
    const servedName = (cpu.spec as { model: { servedName: string } }).model.servedName;
    expect(script).toContain(`/v2/models/${servedName}/infer`);
    expect(script).toContain('build-models.js');
  });

  test('the workflow installs dependencies, creates the kind cluster and runs the script on it', () => {
    const wf = yaml.load(readFileSync(join(ROOT, '.github', 'workflows', 'e2e.yaml'), 'utf8')) as {
      jobs: Record<string, { steps: Array<{ uses?: string; run?: string; with?: Record<string, string>; env?: Record<string, string> }> }>;
    };
    const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
    const kind = steps.find((s) => s.uses?.startsWith('helm/kind-action@'));
    expect(kind).toBeDefined();
    const e2e = steps.find((s) => s.run?.includes('scripts/e2e-kind.sh'));
    expect(e2e?.env?.KIND_CLUSTER).toBe(kind?.with?.cluster_name);
    expect(steps.findIndex((s) => s.run?.includes('npm ci'))).toBeLessThan(steps.indexOf(e2e!));
  });
});
