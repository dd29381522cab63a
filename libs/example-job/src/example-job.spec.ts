import { memoryClaims, PermanentError, transformContext } from '@pipeline/job';
import { exampleJob, exampleLines, exampleRow, expectedCounts } from './index';

const id = { run: 'run-1', slice: 's000000', pos: 0 };
const context = transformContext(id, 'example', memoryClaims());

describe('The example job', () => {
  it('greets a customer in their language', () => {
    const greeting = exampleJob.transform(
      { customerId: 'c1', name: 'Ana', email: 'Ana@Example.com', country: 'ES' },
      context,
    );
    expect(greeting).toMatchObject({ to: 'ana@example.com', subject: 'Hola Ana, your November update', notesBytes: 0 });
  });

  it('rejects a blocked customer for good', () => {
    expect(() =>
      exampleJob.transform({ customerId: 'c2', name: 'B', email: 'b@blocked.example', country: 'DE' }, context),
    ).toThrow(PermanentError);
  });

  it('generates a deterministic data set with each kind of row where the rules say', () => {
    const options = { records: 2_000 };
    expect([...exampleLines(options)]).toEqual([...exampleLines(options)]);
    expect(expectedCounts(options)).toEqual({ good: 1_991, large: 2, malformed: 4, invalid: 2, rejected: 1 });
    expect(() => JSON.parse(exampleRow(498, options))).toThrow();
    expect(exampleJob.input.safeParse(JSON.parse(exampleRow(700, options))).success).toBe(false);
    expect(Buffer.byteLength(exampleRow(996, options))).toBeGreaterThan(300 * 1024);
  });

  it('makes ordinary rows about the size asked for', () => {
    expect(Buffer.byteLength(exampleRow(1, { records: 10, recordBytes: 1_000 }))).toBeGreaterThan(950);
    expect(Buffer.byteLength(exampleRow(1, { records: 10, recordBytes: 1_000 }))).toBeLessThanOrEqual(1_000);
  });
});
