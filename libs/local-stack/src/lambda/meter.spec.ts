import { LambdaMeter } from './meter';

describe('LambdaMeter: what Lambda bills for each function', () => {
  it('counts each invocation, failed ones too, and bills its duration rounded up to the millisecond', async () => {
    const meter = new LambdaMeter();
    meter.record('writer', 0.2);
    meter.record('writer', 2.01);
    const failing = meter.wrap('processor', async () => {
      throw new Error('boom');
    });
    await expect(failing({}, {})).rejects.toThrow('boom');
    expect(meter.read()).toEqual({
      writer: { invocations: 2, billedMs: 1 + 3 },
      processor: { invocations: 1, billedMs: expect.any(Number) },
    });
    meter.reset();
    expect(meter.read()).toEqual({});
  });
});
