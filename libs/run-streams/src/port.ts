import type { MappingSpec, StreamSpec } from './plan';

export type StreamStatus = 'CREATING' | 'DELETING' | 'ACTIVE' | 'UPDATING';

export interface StreamState {
  arn: string;
  status: StreamStatus;
  encrypted: boolean;
  retentionHours: number;
  createdAt?: Date;
}

export interface MappingState {
  uuid: string;
  /** Creating, Enabling, Enabled, Disabling, Disabled, Updating, Deleting. */
  state: string;
}

/**
 * The Kinesis and Lambda calls per-run streams make, one method per API call; the adapter
 * (`awsStreamsPort`) maps each AWS error that means "someone else got there first" to a result.
 */
export interface StreamsPort {
  /** DescribeStreamSummary; undefined when the stream does not exist (ResourceNotFoundException). */
  describeStream(name: string): Promise<StreamState | undefined>;
  /** CreateStream, provisioned; `exists` when another caller created it first (ResourceInUseException). */
  createStream(spec: StreamSpec): Promise<'created' | 'exists'>;
  /** IncreaseStreamRetentionPeriod; `busy` when the stream is not ACTIVE (another caller is updating it). */
  increaseRetention(name: string, hours: number): Promise<'started' | 'busy'>;
  /** StartStreamEncryption with a KMS key; `busy` when the stream is not ACTIVE (another caller is updating it). */
  startEncryption(name: string, keyId: string): Promise<'started' | 'busy'>;
  /** DeleteStream; `missing` when it was already gone. */
  deleteStream(name: string): Promise<'deleting' | 'missing'>;
  /** ListEventSourceMappings by function and stream ARN, every page. */
  listMappings(functionName: string, streamArn: string): Promise<MappingState[]>;
  /** CreateEventSourceMapping; `exists` when one for this function and stream was created first (ResourceConflictException). */
  createMapping(spec: MappingSpec, streamArn: string): Promise<'created' | 'exists'>;
  /** DeleteEventSourceMapping; `missing` when it was already gone. */
  deleteMapping(uuid: string): Promise<'deleting' | 'missing'>;
}
