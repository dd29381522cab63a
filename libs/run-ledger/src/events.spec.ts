import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileRunEvents, overTolerance, putEventsEntry, RUN_EVENT_TYPES, runEvent, runStartedEvent } from './index';

describe('overTolerance: a run fails only when its dead letters pass every bound its job sets', () => {
  it.each([
    [undefined, 1000, 1000, false],
    [{}, 1000, 1000, false],
    [{ count: 2 }, 1000, 2, false],
    [{ count: 2 }, 1000, 3, true],
    [{ percentage: 1 }, 1000, 10, false],
    [{ percentage: 1 }, 1000, 11, true],
    [{ count: 0 }, 1000, 1, true],
    [{ count: 5, percentage: 1 }, 1000, 8, false],
    [{ count: 5, percentage: 1 }, 100, 6, true],
    [{ percentage: 0 }, 0, 0, false],
  ])('tolerated %j, read %i, dead-lettered %i: over is %s', (tolerated, read, deadLettered, over) => {
    expect(overTolerance(tolerated, { read, deadLettered })).toBe(over);
  });
});

describe('the run’s events', () => {
  it('are appended to the local events file one JSON line each, as EventBridge would carry them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'events-'));
    try {
      const put = fileRunEvents(join(dir, 'sub', 'events.ndjson'));
      const time = new Date('2026-11-25T10:00:00Z');
      await put(runEvent(RUN_EVENT_TYPES.completed, { runId: 'r1', read: 3 }, time));
      await put(runEvent(RUN_EVENT_TYPES.failed, { runId: 'r2', reason: 'stalled' }, time));
      const lines = (await readFile(join(dir, 'sub', 'events.ndjson'), 'utf8')).trim().split('\n');
      expect(lines.map((l) => JSON.parse(l))).toEqual([
        {
          source: 'slice-pipeline',
          detailType: 'Run Completed',
          time: time.toISOString(),
          detail: { runId: 'r1', read: 3 },
        },
        {
          source: 'slice-pipeline',
          detailType: 'Run Failed',
          time: time.toISOString(),
          detail: { runId: 'r2', reason: 'stalled' },
        },
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('become PutEvents entries on the named bus, their detail as a JSON string', () => {
    const event = runEvent(RUN_EVENT_TYPES.started, { runId: 'r1' }, new Date('2026-11-25T10:00:00Z'));
    expect(putEventsEntry(event, 'dev-pipeline-runs')).toEqual({
      Source: 'slice-pipeline',
      DetailType: 'Run Started',
      Detail: '{"runId":"r1"}',
      EventBusName: 'dev-pipeline-runs',
      Time: '2026-11-25T10:00:00.000Z',
    });
  });

  it('announce a planned run with its id and start, as the state machine does from the manifest’s creation', () => {
    const manifest = {
      runId: 'r1',
      job: 'greetings',
      createdAt: '2026-11-25T10:00:00.000Z',
      source: { bucket: 'in', prefix: 'p/' },
      slices: [{ id: 's0' }, { id: 's1' }],
    };
    expect(runStartedEvent(manifest, 'results').detail).toEqual({
      runId: 'r1',
      startedAt: manifest.createdAt,
      manifest: 's3://results/runs/r1/manifest.json',
    });
  });
});
