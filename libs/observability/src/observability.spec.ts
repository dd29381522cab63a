import { observability } from './index';

const serviceOf = (o: ReturnType<typeof observability>) =>
  (o.logger as unknown as { powertoolsLogData: { serviceName: string } }).powertoolsLogData.serviceName;

describe('observability', () => {
  afterEach(() => delete process.env.POWERTOOLS_SERVICE_NAME);

  it('names each stage as a service of its own', () => {
    expect(serviceOf(observability('writer'))).toBe('pipeline-writer');
    expect(serviceOf(observability('reader'))).toBe('pipeline-reader');
  });

  it('takes the service name from POWERTOOLS_SERVICE_NAME when it is set', () => {
    process.env.POWERTOOLS_SERVICE_NAME = 'billing-writer';
    expect(serviceOf(observability('writer'))).toBe('billing-writer');
  });
});
