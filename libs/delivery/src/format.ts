import { LAYOUT } from '@pipeline/records';

/**
 * How the delivery stream turns the writer's records into objects, in one place for the CDK app and
 * the local runner: each record is several result lines (see the writer), so Firehose splits it
 * back into its JSON lines, partitions each line by its `run` field, and puts the newline back.
 */
export const DELIVERY_FORMAT = {
  prefix: LAYOUT.resultsPrefix('!{partitionKeyFromQuery:run}'),
  errorOutputPrefix: `${LAYOUT.deliveryErrorsPrefix}!{firehose:error-output-type}/`,
  processors: [
    { type: 'RecordDeAggregation', parameters: [{ name: 'SubRecordType', value: 'JSON' }] },
    {
      type: 'MetadataExtraction',
      parameters: [
        { name: 'MetadataExtractionQuery', value: '{run: .run}' },
        { name: 'JsonParsingEngine', value: 'JQ-1.6' },
      ],
    },
    { type: 'AppendDelimiterToRecord', parameters: [] },
  ],
} as const;
