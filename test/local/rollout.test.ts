// The replica plan: scale to the wanted count; roll one replica at a time without dropping below it.
import { planReplicas, type ReplicaView } from '../../local/rollout.js';

const r = (id: string, current: boolean, ready: boolean, createdAt = 0): ReplicaView => ({ id, current, ready, createdAt });

describe('planReplicas', () => {
  test.each<[string, number, ReplicaView[], { start: number; drain: string[] }]>([
    ['nothing yet: start all', 2, [], { start: 2, drain: [] }],
    ['at the count: nothing', 2, [r('a', true, true), r('b', true, false)], { start: 0, drain: [] }],
    ['scale up', 3, [r('a', true, true)], { start: 2, drain: [] }],
    ['scale down: a not-ready replica goes first', 1, [r('a', true, true, 1), r('b', true, false, 0)], { start: 0, drain: ['b'] }],
    ['scale down: then the newest', 1, [r('a', true, true, 1), r('b', true, true, 2)], { start: 0, drain: ['b'] }],
    ['scale to zero', 0, [r('a', true, true), r('b', true, true)], { start: 0, drain: ['a', 'b'] }],
    ['rollout begins: one new replica, no old one drained yet', 2, [r('o1', false, true), r('o2', false, true)], { start: 1, drain: [] }],
    ['rollout waits while the new replica loads', 2, [r('o1', false, true), r('o2', false, true), r('n1', true, false)], { start: 0, drain: [] }],
    ['a ready new replica lets one old one go, and the next new one starts', 2, [r('o1', false, true, 1), r('o2', false, true, 2), r('n1', true, true, 3)], { start: 1, drain: ['o1'] }],
    ['the last old replica goes when the second new one is ready', 2, [r('o2', false, true), r('n1', true, true), r('n2', true, true)], { start: 0, drain: ['o2'] }],
    ['an old replica that does not serve goes at once', 2, [r('o1', false, false), r('o2', false, true)], { start: 1, drain: ['o1'] }],
    ['a new template that never gets ready keeps the old replicas serving', 1, [r('o1', false, true), r('n1', true, false)], { start: 0, drain: [] }],
  ])('%s', (_what, desired, replicas, plan) => {
    expect(planReplicas(desired, replicas)).toEqual(plan);
  });

  test('a whole rollout never has fewer ready replicas than wanted', () => {
    let replicas: ReplicaView[] = [r('o1', false, true, 1), r('o2', false, true, 2), r('o3', false, true, 3)];
    let t = 10;
    for (let step = 0; step < 20 && replicas.some((x) => !x.current || !x.ready); step++) {
      const plan = planReplicas(3, replicas);
      replicas = replicas.filter((x) => !plan.drain.includes(x.id));
      for (let i = 0; i < plan.start; i++) replicas.push(r(`n${t}`, true, false, t++));
      expect(replicas.filter((x) => x.ready).length).toBeGreaterThanOrEqual(3);
      // The replicas started this step become ready before the next one.
      replicas = replicas.map((x) => ({ ...x, ready: true }));
    }
    expect(replicas.every((x) => x.current && x.ready)).toBe(true);
    expect(replicas).toHaveLength(3);
  });
});
