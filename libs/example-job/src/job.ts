import { z } from 'zod';
import { defineJob, PermanentError } from '@pipeline/job';

/**
 * The worked example: a customer list (NDJSON) turned into greeting messages, the way a team would
 * prepare a mailing. Copy this module to write your own job.
 */
export const CustomerSchema = z.object({
  customerId: z.string().min(1),
  name: z.string().min(1),
  email: z.email(),
  country: z.string().length(2),
  /** Free text; a few customers carry very long notes, which makes their records spill. */
  notes: z.string().optional(),
});
export type Customer = z.infer<typeof CustomerSchema>;

export const GreetingSchema = z.object({
  customerId: z.string(),
  to: z.string(),
  subject: z.string(),
  body: z.string(),
  notesBytes: z.number().int().nonnegative(),
  notes: z.string().optional(),
});
export type Greeting = z.infer<typeof GreetingSchema>;

const SALUTATIONS: Record<string, string> = { DE: 'Hallo', FR: 'Bonjour', ES: 'Hola', IT: 'Ciao', NL: 'Hallo' };

export const exampleJob = defineJob({
  name: 'customer-greetings',
  source: { format: 'ndjson' },
  input: CustomerSchema,
  result: GreetingSchema,
  transform(customer: Customer): Greeting {
    if (customer.email.endsWith('@blocked.example')) {
      throw new PermanentError(`customer ${customer.customerId} has opted out of email`);
    }
    const salutation = SALUTATIONS[customer.country.toUpperCase()] ?? 'Hello';
    const notesBytes = Buffer.byteLength(customer.notes ?? '');
    return {
      customerId: customer.customerId,
      to: customer.email.toLowerCase(),
      subject: `${salutation} ${customer.name}, your November update`,
      body: `${salutation} ${customer.name}, thank you for being a customer.`,
      notesBytes,
      // Long notes travel on so the results stream spills too.
      notes: notesBytes > 0 ? customer.notes!.toUpperCase() : undefined,
    };
  },
});
