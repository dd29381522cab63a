/**
 * Lambda's bill of a local run: invocations and billed duration per function. Lambda bills each
 * invocation's duration rounded up to the millisecond, from the handler's start to its return
 * (waiting on I/O included), so the meter times the handler as a whole, on the wall clock.
 */

export interface FunctionUsage {
  invocations: number;
  /** Σ per invocation of its duration rounded up to 1 ms. */
  billedMs: number;
}

export class LambdaMeter {
  private usage = new Map<string, FunctionUsage>();

  /** The handler, timed: each call is one invocation of `functionName`. */
  wrap<E, C, R>(
    functionName: string,
    handler: (event: E, context: C) => R | Promise<R>,
  ): (event: E, context: C) => Promise<R> {
    return async (event, context) => {
      const started = process.hrtime.bigint();
      try {
        return await handler(event, context);
      } finally {
        this.record(functionName, Number(process.hrtime.bigint() - started) / 1e6);
      }
    };
  }

  record(functionName: string, durationMs: number): void {
    const entry = this.usage.get(functionName) ?? { invocations: 0, billedMs: 0 };
    entry.invocations += 1;
    entry.billedMs += Math.max(1, Math.ceil(durationMs));
    this.usage.set(functionName, entry);
  }

  read(): Record<string, FunctionUsage> {
    return Object.fromEntries([...this.usage].map(([name, u]) => [name, { ...u }]));
  }

  reset(): void {
    this.usage.clear();
  }
}
