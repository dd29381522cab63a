import { ShardProgress } from './progress';

describe('ShardProgress', () => {
  it('moves the checkpoint to the last record of a completed run', () => {
    const progress = new ShardProgress();
    progress.track(['1', '2', '3']);

    expect(progress.complete(['1', '2'])).toBe('2');
    expect(progress.outstanding).toBe(1);
  });

  it('does not move past a record that is not done yet', () => {
    const progress = new ShardProgress();
    progress.track(['1', '2', '3']);

    expect(progress.complete(['2', '3'])).toBeUndefined();
    expect(progress.complete(['1'])).toBe('3');
  });

  it('keeps working over many records', () => {
    const progress = new ShardProgress();
    const seqs = Array.from({ length: 5_000 }, (_, i) => String(i));
    progress.track(seqs);

    for (let i = 0; i < seqs.length - 1; i += 1) progress.complete([seqs[i]]);

    expect(progress.complete([seqs[seqs.length - 1]])).toBe('4999');
    expect(progress.outstanding).toBe(0);
  });
});
