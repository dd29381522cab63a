import type { StackProps } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { InfraConfig } from '../config';

/** What every app stack is built from: the environment's configuration and the app's bundle. */
export interface AppStackProps extends StackProps {
  config: InfraConfig;
  /** The app's Lambda code: its bundle from dist/ (see bundleCode), inline code in tests. */
  code: lambda.Code;
}

/** The processor's stack also knows the job its bundle runs: its `context.once` claims are that job's. */
export interface ProcessorStackProps extends AppStackProps {
  /** The name of the job in the processor's bundle (`@pipeline/active-job`). */
  jobName: string;
}
