import { readBatchResponse } from './response';

const seqs = ['100', '200', '300'];

describe('readBatchResponse', () => {
  it('reads any response as success when ReportBatchItemFailures is off', () => {
    expect(readBatchResponse({ batchItemFailures: [{ itemIdentifier: '200' }] }, seqs, false)).toEqual({
      kind: 'success',
    });
  });

  it.each([undefined, null, {}, { batchItemFailures: null }, { batchItemFailures: [] }])(
    'reads %p as complete success',
    (response) => {
      expect(readBatchResponse(response, seqs, true)).toEqual({ kind: 'success' });
    },
  );

  it('points at the lowest failed record, whatever order the failures are listed in', () => {
    const response = { batchItemFailures: [{ itemIdentifier: '300' }, { itemIdentifier: '200' }] };

    expect(readBatchResponse(response, seqs, true)).toEqual({ kind: 'partial', firstFailedIndex: 1 });
  });

  it.each([
    ['an empty-string itemIdentifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
    ['a null itemIdentifier', { batchItemFailures: [{ itemIdentifier: null }] }],
    ['a wrong key name', { batchItemFailures: [{ itemidentifier: '200' }] }],
    ['an unknown sequence number', { batchItemFailures: [{ itemIdentifier: '999' }] }],
    ['a non-string itemIdentifier', { batchItemFailures: [{ itemIdentifier: 200 }] }],
    ['a null entry', { batchItemFailures: [null] }],
    ['batchItemFailures that is not an array', { batchItemFailures: 'all' }],
    ['a string response', 'ok'],
    ['an array response', [{ itemIdentifier: '200' }]],
  ])('reads %s as a complete failure that is not a function error', (_case, response) => {
    expect(readBatchResponse(response, seqs, true)).toEqual({
      kind: 'failure',
      reason: expect.any(String),
      functionError: false,
    });
  });
});
