/**
 * AWS list prices the cost report uses, once, with where each figure comes from.
 *
 * Every price is US East (N. Virginia) on-demand list price in USD. `source` is the page the figure
 * was read on; `confidence` says how sure that is:
 * - `aws-page`: read on an AWS page or in AWS documentation;
 * - `third-party`: the AWS pricing page's table is rendered by script and its stored copy carries no
 *   numbers, so the figure is from a third-party page quoting it (named in `source`);
 * - `unverified`: no stored page showed it; the figure is the project's best knowledge.
 * Re-check them against the AWS pricing pages before quoting a bill; the report prints `asOf`.
 */

export type PriceConfidence = 'aws-page' | 'third-party' | 'unverified';

export interface Price {
  usd: number;
  /** What one `usd` buys, in words. */
  unit: string;
  source: string;
  confidence: PriceConfidence;
}

const price = (usd: number, unit: string, source: string, confidence: PriceConfidence): Price => ({
  usd,
  unit,
  source,
  confidence,
});

const TREK10 =
  'https://www.trek10.com/blog/amazon-kinesis-data-streams-on-demand-vs.-provisioned-billing-mode-cost-comparison (us-east-1, Sep 2023)';

export const PRICE_TABLE = {
  region: 'us-east-1',
  asOf: '2026-11-25',
  kinesis: {
    shardHour: price(0.015, 'per shard-hour (provisioned)', TREK10, 'third-party'),
    putPayloadUnits: price(0.014, 'per 1,000,000 PUT payload units of 25 KB (provisioned)', TREK10, 'third-party'),
    onDemandStreamHour: price(0.04, 'per stream-hour (on-demand standard)', TREK10, 'third-party'),
    onDemandGbIn: price(
      0.08,
      'per GB written, each record rounded up to 1 KB (on-demand standard)',
      TREK10,
      'third-party',
    ),
    onDemandGbOut: price(0.04, 'per GB read (on-demand standard)', TREK10, 'third-party'),
  },
  lambda: {
    requests: price(
      0.2,
      'per 1,000,000 requests',
      'https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html',
      'aws-page',
    ),
    gbSecond: price(
      0.0000166667,
      'per GB-second (x86)',
      'https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html ($0.00001667)',
      'aws-page',
    ),
    gbSecondArm: price(
      0.0000133334,
      'per GB-second (Arm, first 7.5 billion GB-s a month)',
      'https://cloudchipr.com/blog/aws-lambda-pricing (2024)',
      'third-party',
    ),
  },
  firehose: {
    ingestedGb: price(
      0.029,
      'per GB ingested, each record rounded up to 5 KB (Direct PUT)',
      'https://aws.amazon.com/kinesis/data-firehose/pricing/ (rounding read there; figure not on the stored page)',
      'unverified',
    ),
    partitionedGb: price(
      0.02,
      'per GB delivered with dynamic partitioning',
      'https://aws.amazon.com/kinesis/data-firehose/pricing/ (dimension read there; figure not on the stored page)',
      'unverified',
    ),
    partitionedObjects: price(
      0.005,
      'per 1,000 S3 objects delivered with dynamic partitioning',
      'https://aws.amazon.com/kinesis/data-firehose/pricing/ (dimension read there; figure not on the stored page)',
      'unverified',
    ),
    jqHour: price(
      0.13,
      'per JQ processing hour (dynamic partitioning)',
      'https://aws.amazon.com/kinesis/data-firehose/pricing/ (dimension read there; figure not on the stored page)',
      'unverified',
    ),
  },
  s3: {
    tier1Requests: price(
      0.005,
      'per 1,000 PUT, COPY, POST or LIST requests',
      'https://devnotes.tech/understanding-aws-s3-pricing-a-complete-cost-breakdown-with-examples',
      'third-party',
    ),
    tier2Requests: price(
      0.0004,
      'per 1,000 GET, HEAD and other requests',
      'https://athena.guide/articles/athena-basics-pricing-model/ (2020-10-15)',
      'third-party',
    ),
    storageGbMonth: price(
      0.023,
      'per GB-month (Standard, first 50 TB)',
      'https://deepeshsoni.com/archives/256',
      'third-party',
    ),
  },
  eventBridge: {
    events: price(
      1.0,
      'per 1,000,000 events (each 64 KB a unit)',
      'https://cloudburn.io/blog/amazon-eventbridge-pricing (Mar 2026)',
      'third-party',
    ),
  },
  athena: {
    tbScanned: price(
      5,
      'per TB scanned (10 MB minimum per query)',
      'https://aws.amazon.com/jp/athena/pricing/',
      'aws-page',
    ),
  },
  /** For the comparisons in the README: the designs this pipeline is meant to beat. */
  sqs: {
    requests: price(
      0.4,
      'per 1,000,000 requests (each 64 KB a request)',
      'https://cloudburn.io/blog/amazon-sqs-pricing (Mar 2026)',
      'third-party',
    ),
  },
  dynamodb: {
    writeUnits: price(
      0.625,
      'per 1,000,000 write request units (on-demand)',
      'https://airbyte.com/data-engineering-resources/dynamodb-pricing (Jul 2025, after the Nov 2024 cut)',
      'third-party',
    ),
    readUnits: price(
      0.125,
      'per 1,000,000 read request units (on-demand)',
      'https://airbyte.com/data-engineering-resources/dynamodb-pricing (Jul 2025, after the Nov 2024 cut)',
      'third-party',
    ),
  },
  stepFunctions: {
    standardTransitions: price(
      0.025,
      'per 1,000 state transitions (Standard)',
      'https://stackoom.com/en/question/4YUKS (quoting the AWS page)',
      'third-party',
    ),
    expressRequests: price(
      1.0,
      'per 1,000,000 requests (Express)',
      'https://www.wring.co/blog/aws-step-functions-pricing-guide (Mar 2026)',
      'third-party',
    ),
    expressGbSecond: price(
      0.00001667,
      'per GB-second (Express; 64 MB and 100 ms steps)',
      'https://www.wring.co/blog/aws-step-functions-pricing-guide (Mar 2026)',
      'third-party',
    ),
  },
} as const;

export type PriceTable = typeof PRICE_TABLE;

/** Hours in a billing month, as AWS's calculators count them. */
export const HOURS_PER_MONTH = 730;

/** Kinesis bills a PUT payload unit per started 25 KB of a record (provisioned). */
export const PUT_PAYLOAD_UNIT_BYTES = 25 * 1024;
/** Firehose bills ingestion per record rounded up to 5 KB. */
export const FIREHOSE_BILLING_STEP_BYTES = 5 * 1024;
/** Kinesis on-demand bills data in per record rounded up to 1 KB. */
export const ON_DEMAND_BILLING_STEP_BYTES = 1024;
