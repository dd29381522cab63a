import { KinesisClient } from '@aws-sdk/client-kinesis';
import { countingMemoryStore } from '@pipeline/object-store';
import { RunLedger } from '@pipeline/run-ledger';
import { deployedResources, type Environment } from './environment';
import { redrive } from './operations';

describe('redrive in an environment whose streams are per run', () => {
  it('refuses, before it puts anything, when the outputs lack the plan to open the streams with', async () => {
    const store = countingMemoryStore();
    const resources = {
      ...deployedResources('dev', undefined, '123456789012', 'eu-west-1'),
      streamsLifecycle: 'per-run' as const,
    };
    const ledger = new RunLedger(store, resources.resultsBucket);
    await ledger.createManifest({ runId: 'r1', createdAt: '2026-11-25T02:00:00Z', slices: [] } as never);
    const env = {
      name: 'dev',
      kind: 'deployed',
      resources,
      store,
      ledger,
      kinesis: new KinesisClient({}),
    } as unknown as Environment;
    await expect(redrive(env, 'r1')).rejects.toThrow(/opens its streams per run.*no RunStreams plan.*--outputs/);
    expect(store.objects.size).toBe(1); // the manifest alone: no lease taken
  });
});
