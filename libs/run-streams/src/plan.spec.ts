import { RUN_STREAMS_ENV, RunStreamsPlanError, runStreamsPlan } from './plan';
import { testPlan } from './testing';

describe('runStreamsPlan', () => {
  it('is undefined when RUN_STREAMS is not set: the streams are always on', () => {
    expect(runStreamsPlan({})).toBeUndefined();
  });

  it('reads the plan the CDK app writes', () => {
    expect(runStreamsPlan({ [RUN_STREAMS_ENV]: JSON.stringify(testPlan()) })).toEqual(testPlan());
  });

  it('rejects a mapping on a stream the plan does not open, naming it', () => {
    const plan = testPlan();
    plan.mappings[0].streamName = 'elsewhere';
    expect(() => runStreamsPlan({ [RUN_STREAMS_ENV]: JSON.stringify(plan) })).toThrow(/reads elsewhere/);
  });

  it('rejects settings outside the event source mapping limits', () => {
    const plan = testPlan();
    plan.mappings[0].batchSize = 10_001;
    expect(() => runStreamsPlan({ [RUN_STREAMS_ENV]: JSON.stringify(plan) })).toThrow(RunStreamsPlanError);
  });
});
