import { Match, type Template } from 'aws-cdk-lib/assertions';
import { collationSummarySql, collationUnloadSql, statesFormatTemplate } from '@pipeline/collation';
import { LAYOUT } from '@pipeline/records';
import { RUN_EVENT_SOURCE, RUN_EVENT_TYPES } from '@pipeline/run-ledger';
import { pipelineNames } from '../src/names';
import { synthPipeline, type SynthesizedPipeline } from './helpers';

const names = pipelineNames('dev');
const ref = (template: Template, type: string, name: string, nameProperty: string) =>
  Object.keys(template.findResources(type, { Properties: { [nameProperty]: name } }))[0];
/** The state machine's definition as one string, its Fn::Join pieces concatenated (tokens as placeholders). */
const definitionOf = (t: Template) => {
  const [machine] = Object.values(t.findResources('AWS::StepFunctions::StateMachine'));
  const body = machine.Properties.DefinitionString as { 'Fn::Join': [string, unknown[]] } | string;
  return typeof body === 'string'
    ? body
    : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<ref>')).join('');
};

describe('GIVEN the default configuration', () => {
  let pipeline: SynthesizedPipeline;
  let t: Template;
  beforeAll(() => {
    pipeline = synthPipeline({}, { apps: ['finisher'] });
    t = pipeline.templates.finisher;
  });
  afterAll(() => pipeline.cleanup());

  describe('WHEN the run markers are wired', () => {
    it('THEN the creation of a run’s manifest, complete.json or failed.json in the results bucket, and nothing else, starts the state machine', () => {
      const machine = ref(t, 'AWS::StepFunctions::StateMachine', names.runEndedStateMachine, 'StateMachineName');
      t.hasResourceProperties('AWS::Events::Rule', {
        Name: names.runMarkersRule,
        EventPattern: {
          source: ['aws.s3'],
          'detail-type': ['Object Created'],
          detail: {
            bucket: { name: [Match.anyValue()] },
            object: {
              key: [
                { wildcard: LAYOUT.manifestKey('*') },
                { wildcard: LAYOUT.completeKey('*') },
                { wildcard: LAYOUT.failedKey('*') },
              ],
            },
          },
        },
        Targets: [Match.objectLike({ Arn: { Ref: machine } })],
      });
    });

    it('THEN an ended run is collated by Athena with the de-duplicating UNLOAD, waited for (.sync), then summarized and announced', () => {
      const definition = definitionOf(t);
      expect(definition).toContain(':states:::athena:startQueryExecution.sync');
      expect(definition).toContain('UNLOAD (SELECT line FROM (');
      expect(definition).toContain('row_number() OVER (PARTITION BY json_extract_scalar(line');
      expect(definition).toContain(`"WorkGroup":"${names.athenaWorkGroup}"`);
      expect(definition).toContain(':states:::events:putEvents');
      expect(definition).toContain(`"Source":"${RUN_EVENT_SOURCE}"`);
      expect(definition).toContain(`"DetailType":"${RUN_EVENT_TYPES.started}"`);
      expect(definition).toContain(`"DetailType":"${RUN_EVENT_TYPES.failed}"`);
      expect(definition).toContain(':states:::aws-sdk:s3:putObject');
      expect(definition).toContain(LAYOUT.summaryKey('{}'));
      // The queries are the ones libs/collation writes, with the bucket, run and times filled in by States.Format.
      const states = JSON.parse(definition).States as Record<string, { Parameters: Record<string, string> }>;
      for (const [state, build] of [
        ['CollateWithAthena', collationUnloadSql],
        ['SummarizeWithAthena', collationSummarySql],
      ] as const) {
        const query = states[state].Parameters['QueryString.$'];
        const { template } = statesFormatTemplate(build, { database: names.glueDatabase });
        expect(query.startsWith("States.Format('")).toBe(true);
        expect(query.slice("States.Format('".length, query.lastIndexOf("', $")).replaceAll("\\'", "'")).toBe(template);
      }
    });

    it('THEN the state machine traces with X-Ray and logs every state to its own log group', () => {
      t.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: names.runEndedStateMachine,
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
      });
    });

    it('THEN Athena reads the results and dead letters through tables whose run partition is projected, with no crawler', () => {
      for (const [table, prefix] of [
        ['results', 'results/'],
        ['dead_letters', 'dead-letters/'],
      ]) {
        t.hasResourceProperties('AWS::Glue::Table', {
          DatabaseName: names.glueDatabase,
          TableInput: Match.objectLike({
            Name: table,
            PartitionKeys: [{ Name: 'run', Type: 'string' }],
            Parameters: Match.objectLike({ 'projection.enabled': 'true', 'projection.run.type': 'injected' }),
            StorageDescriptor: Match.objectLike({
              Columns: [{ Name: 'line', Type: 'string' }],
              Location: Match.stringLikeRegexp(`^s3://[^/]+/${prefix}$`),
            }),
          }),
        });
      }
      t.resourceCountIs('AWS::Glue::Crawler', 0);
    });

    it('THEN the workgroup enforces its settings and encrypts query results under their own prefix', () => {
      t.hasResourceProperties('AWS::Athena::WorkGroup', {
        Name: names.athenaWorkGroup,
        WorkGroupConfiguration: Match.objectLike({
          EnforceWorkGroupConfiguration: true,
          ResultConfiguration: {
            OutputLocation: Match.stringLikeRegexp(`^s3://[^/]+/${LAYOUT.queryResultsPrefix}$`),
            EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
          },
        }),
      });
    });

    it('THEN the run’s events go to the pipeline’s own bus, and Run Completed and Run Failed to an encrypted topic over TLS', () => {
      t.hasResourceProperties('AWS::Events::EventBus', { Name: names.eventBus });
      const topic = ref(t, 'AWS::SNS::Topic', names.notificationsTopic, 'TopicName');
      t.hasResourceProperties('AWS::SNS::Topic', {
        TopicName: names.notificationsTopic,
        KmsMasterKeyId: Match.anyValue(),
      });
      t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
      t.hasResourceProperties('AWS::Events::Rule', {
        Name: names.notificationsRule,
        EventBusName: Match.anyValue(),
        EventPattern: {
          source: [RUN_EVENT_SOURCE],
          'detail-type': [RUN_EVENT_TYPES.completed, RUN_EVENT_TYPES.failed],
        },
        Targets: [Match.objectLike({ Arn: { Ref: topic } })],
      });
      t.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: Match.objectLike({
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        }),
      });
      t.resourceCountIs('AWS::SNS::Subscription', 0);
    });
  });
});

describe('GIVEN notifications configured for every event, to two addresses', () => {
  let pipeline: SynthesizedPipeline;
  afterAll(() => pipeline.cleanup());

  it('THEN the rule sends all three events to the topic, and each address is subscribed', () => {
    pipeline = synthPipeline(
      { runEvents: { notify: Object.values(RUN_EVENT_TYPES), emails: ['ops@example.com', 'data@example.com'] } },
      { apps: ['finisher'] },
    );
    const t = pipeline.templates.finisher;
    t.hasResourceProperties('AWS::Events::Rule', {
      Name: names.notificationsRule,
      EventPattern: { source: [RUN_EVENT_SOURCE], 'detail-type': Object.values(RUN_EVENT_TYPES) },
    });
    t.resourceCountIs('AWS::SNS::Subscription', 2);
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});
