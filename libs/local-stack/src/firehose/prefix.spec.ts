import { evaluatePrefix, objectKeySuffix, parsePrefix, PrefixSyntaxError } from './prefix';

/** 2018-07-06T23:04:05Z */
const TIME = Date.UTC(2018, 6, 6, 23, 4, 5);
const context = { time: TIME, randomString: () => 'rrrrrrrrrrr' };

describe('Firehose prefix expressions', () => {
  it('evaluates timestamp fields in UTC, zero-padded', () => {
    const prefix = parsePrefix(
      'myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/',
    );

    expect(evaluatePrefix(prefix, context)).toBe('myPrefix/year=2018/month=07/day=06/hour=23/');
  });

  it('takes quoted text in a timestamp pattern literally (documented example)', () => {
    const prefix = parsePrefix(
      "myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/!{firehose:error-output-type}",
    );

    expect(evaluatePrefix(prefix, { ...context, errorOutputType: 'processing-failed' })).toBe(
      'myErrorPrefix/year=2018/month=07/day=06/hour=23/processing-failed',
    );
  });

  it('evaluates a multi-field pattern such as yyyy/MM/dd/HH/', () => {
    expect(evaluatePrefix(parsePrefix('!{timestamp:yyyy/MM/dd/HH/}'), context)).toBe('2018/07/06/23/');
  });

  it('evaluates a fresh random string for every use', () => {
    let n = 0;
    const prefix = parsePrefix('!{firehose:random-string}/!{firehose:random-string}/');

    expect(evaluatePrefix(prefix, { ...context, randomString: () => `r${n++}` })).toBe('r0/r1/');
  });

  it('substitutes partition keys', () => {
    const prefix = parsePrefix('customer_id=!{partitionKeyFromQuery:customer_id}/');

    expect(evaluatePrefix(prefix, { ...context, partitionKeys: { customer_id: '1234567890' } })).toBe(
      'customer_id=1234567890/',
    );
  });

  it.each([
    ['an unclosed expression', 'a/!{timestamp:yyyy'],
    ['an unknown namespace', 'a/!{nope:x}/'],
    ['an unknown firehose value', 'a/!{firehose:nope}/'],
    ['an unsupported pattern letter', 'a/!{timestamp:EEE}/'],
    ['partitionKeyFromLambda, which needs a Lambda', 'a/!{partitionKeyFromLambda:x}/'],
  ])('rejects %s', (_case, template) => {
    expect(() => parsePrefix(template)).toThrow(PrefixSyntaxError);
  });

  it('builds the documented object name suffix', () => {
    expect(
      objectKeySuffix({ streamName: 'my-stream', version: '1', time: TIME, uuid: 'u-u-i-d', extension: '.gz' }),
    ).toBe('my-stream-1-2018-07-06-23-04-05-u-u-i-d.gz');
  });
});
