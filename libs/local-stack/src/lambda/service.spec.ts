import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Context } from 'aws-lambda';
import { LAMBDA } from '@pipeline/limits';
import { startLocalLambda, type LocalLambda } from './service';

let lambda: LocalLambda | undefined;
let client: LambdaClient | undefined;
afterEach(async () => {
  client?.destroy();
  await lambda?.close();
  lambda = undefined;
  client = undefined;
});

function clientFor(service: LocalLambda): LambdaClient {
  client = new LambdaClient({
    endpoint: service.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return client;
}

/** A handler that hands itself on, as the reader does, until `hops` invocations have run. */
function chainingHandler(hops: number, seen: number[]) {
  return async (event: unknown, context: Context) => {
    const { hop } = event as { hop: number };
    seen.push(hop);
    if (hop + 1 < hops)
      await (client as LambdaClient).send(
        new InvokeCommand({
          FunctionName: context.invokedFunctionArn,
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify({ hop: hop + 1 })),
        }),
      );
    return { hop };
  };
}

describe('startLocalLambda: Invoke', () => {
  it('runs a synchronous invoke and answers with the handler result, or its error as a function error', async () => {
    lambda = await startLocalLambda({
      functions: [
        { name: 'echo', handler: async (event) => ({ echoed: event }) },
        { name: 'fails', handler: async () => Promise.reject(new TypeError('bad input')) },
      ],
    });
    const c = clientFor(lambda);

    const ok = await c.send(new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from('{"a":1}') }));
    const failed = await c.send(new InvokeCommand({ FunctionName: 'fails', Payload: Buffer.from('{}') }));

    expect(ok.StatusCode).toBe(200);
    expect(JSON.parse(Buffer.from(ok.Payload as Uint8Array).toString())).toEqual({ echoed: { a: 1 } });
    expect(failed.FunctionError).toBe('Unhandled');
    expect(JSON.parse(Buffer.from(failed.Payload as Uint8Array).toString())).toEqual({
      errorType: 'TypeError',
      errorMessage: 'bad input',
    });
    await expect(c.send(new InvokeCommand({ FunctionName: 'missing' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('queues an Event invocation (202) and runs it with a context counting down the function timeout', async () => {
    let now = 1_000;
    const remaining: number[] = [];
    lambda = await startLocalLambda({
      clock: () => now,
      functions: [
        {
          name: 'worker',
          timeoutMs: 5_000,
          handler: async (_event, context) => {
            remaining.push(context.getRemainingTimeInMillis());
            now += 2_000;
            remaining.push(context.getRemainingTimeInMillis());
          },
        },
      ],
    });

    const out = await clientFor(lambda).send(new InvokeCommand({ FunctionName: 'worker', InvocationType: 'Event' }));
    await lambda.drain();

    expect(out.StatusCode).toBe(202);
    expect(remaining).toEqual([5_000, 3_000]);
  });
});

describe('startLocalLambda: recursive loop detection', () => {
  it(`stops a chain after ${LAMBDA.maxRecursiveChainInvocations} invocations of a function whose setting is Terminate, and says so`, async () => {
    const seen: number[] = [];
    lambda = await startLocalLambda({ functions: [{ name: 'chain', handler: chainingHandler(40, seen) }] });
    clientFor(lambda);

    await lambda.invoke('chain', { hop: 0 });
    await lambda.drain();

    expect(seen).toHaveLength(LAMBDA.maxRecursiveChainInvocations);
    expect(lambda.stats().recursionStops).toEqual([
      expect.objectContaining({
        functionName: 'chain',
        invocations: LAMBDA.maxRecursiveChainInvocations,
        payload: { hop: LAMBDA.maxRecursiveChainInvocations },
        message: expect.stringMatching(/recursive loop detected: chain was invoked 16 times in one chain/),
      }),
    ]);
  });

  it('lets the chain of a function whose setting is Allow run past the limit to its own end', async () => {
    const seen: number[] = [];
    lambda = await startLocalLambda({
      functions: [{ name: 'chain', recursiveLoop: 'Allow', handler: chainingHandler(40, seen) }],
    });
    clientFor(lambda);

    await lambda.invoke('chain', { hop: 0 });
    await lambda.drain();

    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(lambda.stats().recursionStops).toEqual([]);
  });

  it('counts each chain on its own: a new trigger starts a new chain', async () => {
    const seen: number[] = [];
    lambda = await startLocalLambda({ functions: [{ name: 'chain', handler: chainingHandler(10, seen) }] });
    clientFor(lambda);

    await lambda.invoke('chain', { hop: 0 });
    await lambda.invoke('chain', { hop: 0 });
    await lambda.drain();

    expect(seen).toHaveLength(20);
    expect(lambda.stats().recursionStops).toEqual([]);
  });
});
