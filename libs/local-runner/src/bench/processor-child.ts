import { CONTENDERS, type ContenderName, measureContender } from './processor-contenders';

/**
 * One contender of the processor comparison in a process of its own, as Lambda runs a function:
 * `node <bundle> <contender> <envelopes> <rounds>`. Prints its passes as one JSON line
 * (`null` when the contender is not installed).
 */
async function main(): Promise<void> {
  const [name, envelopes, rounds] = process.argv.slice(2);
  if (!(CONTENDERS as readonly string[]).includes(name))
    throw new Error(`no contender ${name}: one of ${CONTENDERS.join(', ')}`);
  const passes = await measureContender(name as ContenderName, {
    envelopes: Number(envelopes),
    rounds: Number(rounds),
  });
  process.stdout.write(`${JSON.stringify(passes ?? null)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
