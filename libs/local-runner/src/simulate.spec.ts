import { simulate } from './simulate';

describe('npm run simulate: a run of any size on paper, its bookkeeping run for real against a counting in-memory S3', () => {
  it('at 1M records the plan, markers, completion checks and finisher stay within the README formulas, with no listing by the writer', async () => {
    const sim = await simulate({ records: 1_000_000, shards: [2, 8] });
    expect(sim.slices).toBe(Math.ceil((1_000_000 * 1024) / (8 * 1024 ** 2)));
    for (const phase of sim.phases) expect(phase).toMatchObject({ holds: true });
    const writer = sim.phases.find((p) => p.name.startsWith('writer'));
    expect(writer?.calls.list).toBe(0);
    // Reader: exactly one read marker a slice; finisher: every marker read once, one listing page per 1,000 keys.
    expect(sim.phases.find((p) => p.name.startsWith('reader'))?.calls.put).toBe(sim.slices);
    expect(sim.phases.find((p) => p.name.startsWith('finisher'))?.calls.list).toBe(1);
  });

  it('models the run on AWS: more shards lift the shard limit until Firehose’s quota is what limits it', async () => {
    const sim = await simulate({ records: 1_000_000, shards: [2, 8] });
    const [two, eight] = sim.models;
    expect(two.limitedBy.name).toMatch(/records stream writes: 2 shards/);
    expect(eight.limitedBy.name).toMatch(/Firehose Direct PUT quota/);
    expect(eight.hours).toBeLessThan(two.hours);
    expect(two.idlePerMonth.totalUsd).toBeCloseTo(43.8, 6);
    // The designs we mean to beat cost more for the same items.
    for (const alternative of sim.alternatives) expect(alternative.totalUsd).toBeGreaterThan(two.cost.totalUsd);
  });
});
