import { ON_FAILURE_PREFIX } from '@pipeline/records';
import { LOCAL_MAPPING_UUIDS, onFailureKey } from './local-pipeline';

describe('the local on-failure destination', () => {
  it('names each discarded batch as Lambda does in an S3 destination: aws/lambda/<mapping>/<shard>/YYYY/MM/DD/<time>-<UUID>', () => {
    const key = onFailureKey(
      LOCAL_MAPPING_UUIDS.processor,
      'shardId-000000000001',
      new Date('2026-11-25T14:03:09.123Z'),
    );
    expect(key).toMatch(
      new RegExp(
        `^${ON_FAILURE_PREFIX}${LOCAL_MAPPING_UUIDS.processor}/shardId-000000000001/2026/11/25/2026-11-25T14\\.03\\.09-[0-9a-f-]{36}$`,
      ),
    );
  });

  it('never names two batches alike, even discarded in the same second', () => {
    const at = new Date('2026-11-25T14:03:09Z');
    expect(onFailureKey('m', 's', at)).not.toBe(onFailureKey('m', 's', at));
  });
});
