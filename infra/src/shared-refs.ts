import { ArnFormat, type Stack } from 'aws-cdk-lib';
import { ENV } from '@pipeline/config';
import type { AppName, InfraConfig } from './config';
import { pipelineNames, type BucketKind, type PipelineNames } from './names';

/**
 * The shared stack's resources as any stack of the same environment, account and region sees
 * them: names and ARNs computed from the environment's name, never imported from another stack.
 *
 * @example new SharedRefs(stack, config).objectsArn('results', 'runs/');
 */
export class SharedRefs {
  readonly names: PipelineNames;

  constructor(
    private readonly stack: Stack,
    private readonly config: InfraConfig,
  ) {
    this.names = pipelineNames(config.envName);
  }

  /** A bucket's name; the source bucket is the configured one when there is one. */
  bucketName(kind: BucketKind): string {
    if (kind === 'source' && this.config.source.bucketName) return this.config.source.bucketName;
    return this.names.bucket(kind, this.stack.account, this.stack.region);
  }

  bucketArn(kind: BucketKind): string {
    return this.stack.formatArn({ service: 's3', region: '', account: '', resource: this.bucketName(kind) });
  }

  /** Objects under a key prefix (`''`: the whole bucket). */
  objectsArn(kind: BucketKind, prefix: string): string {
    return `${this.bucketArn(kind)}/${prefix}*`;
  }

  get recordsStreamArn(): string {
    return this.streamArn(this.names.recordsStream);
  }

  get resultsStreamArn(): string {
    return this.streamArn(this.names.resultsStream);
  }

  get deliveryStreamArn(): string {
    return this.stack.formatArn({
      service: 'firehose',
      resource: 'deliverystream',
      resourceName: this.names.deliveryStream,
    });
  }

  functionArn(functionName: string): string {
    return this.stack.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: functionName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  private streamArn(name: string): string {
    return this.stack.formatArn({ service: 'kinesis', resource: 'stream', resourceName: name });
  }

  /**
   * The environment a handler reads its configuration from (names in @pipeline/config's ENV).
   * Every function gets the names of the shared resources; only the reader gets the source settings.
   */
  handlerEnvironment(app: AppName, serviceName: string): Record<string, string> {
    const { config } = this;
    const environment: Record<string, string> = {
      [ENV.recordsStream]: this.names.recordsStream,
      [ENV.resultsStream]: this.names.resultsStream,
      [ENV.deliveryStream]: this.names.deliveryStream,
      [ENV.resultsBucket]: this.bucketName('results'),
      [ENV.spillBucket]: this.bucketName('spill'),
      [ENV.spillPrefix]: config.spill.prefix,
      [ENV.spillThresholdBytes]: String(config.spill.thresholdBytes),
      POWERTOOLS_SERVICE_NAME: serviceName,
      POWERTOOLS_METRICS_NAMESPACE: config.metricsNamespace,
      NODE_OPTIONS: '--enable-source-maps',
    };
    if (app === 'finisher') {
      environment[ENV.deliveryBufferIntervalSeconds] = String(config.firehose.bufferIntervalSeconds);
    }
    if (app === 'reader') {
      environment[ENV.sourceBucket] = this.bucketName('source');
      if (config.source.prefix) environment[ENV.sourcePrefix] = config.source.prefix;
      environment[ENV.sliceBytes] = String(config.source.sliceBytes);
      environment[ENV.readerConcurrency] = String(config.source.readerConcurrency);
    }
    return environment;
  }
}
