import { z } from 'zod';
import { defineJob, PermanentError } from '@pipeline/job';
import { recordIdString } from '@pipeline/records';
import { serveJson } from './serve';

/**
 * Worked example: the weekly email to users 1..N. The users are an id range whose end the user API
 * tells; each slice fetches its users in one query; each email goes out through a mail API with the
 * record's id as its idempotency key, so a retried transform never sends a second email. Then a note
 * goes to a CRM whose API takes no idempotency key: `context.once` claims the record before the
 * note, so however often the transform runs for a user, the note is made at most once.
 *
 *   npm start -- --job libs/local-runner/src/examples/weekly-email.ts --run week-2026-47
 *
 * Name each week's run after the week: the claims and idempotency keys start with the run, so a
 * retry, redrive or replay of week 47 sends nothing twice, and week 48's run sends again.
 *
 * Run locally, the job starts its own stand-ins for the three APIs: 250 users; a mail API that fails
 * the first attempt of every seventh email (503) and sends each idempotency key once; a CRM that
 * notes every call it gets, and loses its answer (502) to the first note of every eleventh user.
 */
const USERS = 250;
let usersApi = process.env.USERS_API_URL ?? '';
let mailApi = process.env.MAIL_API_URL ?? '';
let crmApi = process.env.CRM_API_URL ?? '';

export const job = defineJob({
  name: 'weekly-email',
  source: {
    kind: 'ids',
    from: 1,
    to: async ({ http }) => (await http.json<{ count: number }>(`${usersApi}/users/count`)).count + 1,
    sliceSize: 50,
    read: ({ from, to }, { http }) => http.json<unknown[]>(`${usersApi}/users?from=${from}&to=${to}`),
    load: { requestsPerSecond: 20, concurrency: 2 },
  },
  input: z.object({ id: z.number().int(), name: z.string(), email: z.string().includes('@') }),
  result: z.object({ user: z.number(), messageId: z.string() }),
  async transform(user, { id, once }) {
    const response = await fetch(`${mailApi}/send`, {
      method: 'POST',
      // The record's id: the same on every attempt, so the mail API sends once however often we ask.
      headers: { 'content-type': 'application/json', 'idempotency-key': recordIdString(id) },
      body: JSON.stringify({ to: user.email, subject: `Your week, ${user.name}` }),
    });
    if (response.status === 400) throw new PermanentError(`mail API refused ${user.email}: ${await response.text()}`);
    if (!response.ok) throw new Error(`mail API answered ${response.status}: retry`);
    const { messageId } = (await response.json()) as { messageId: string };
    // The CRM takes no idempotency key: a transform retried after its note would note twice. `once`
    // claims the record first; a retry finds the claim and skips the note (even one whose answer was lost).
    // Whether it ran now or before stays out of the result, so a replay of the run gives the same output.
    await once(async () => {
      const noted = await fetch(`${crmApi}/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: user.id, note: `weekly email ${messageId}` }),
      });
      if (!noted.ok) throw new Error(`CRM answered ${noted.status}: retry`);
    });
    return { user: user.id, messageId };
  },
  local: {
    async start() {
      const users = await serveJson((_req, url) => {
        if (url.pathname === '/users/count') return { body: { count: USERS } };
        const from = Number(url.searchParams.get('from'));
        const to = Math.min(Number(url.searchParams.get('to')), USERS + 1);
        return {
          body: Array.from({ length: Math.max(0, to - from) }, (_, i) => ({
            id: from + i,
            name: `User ${from + i}`,
            email: `user${from + i}@example.com`,
          })),
        };
      });
      const sent = new Map<string, string>();
      const attempts = new Map<string, number>();
      let repeated = 0;
      const mail = await serveJson((req) => {
        const key = String(req.headers['idempotency-key'] ?? '');
        if (!key) return { status: 400, body: { error: 'idempotency-key required' } };
        const attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
        const n = Number(key.split('/').pop());
        if (attempt === 1 && n % 7 === 0) return { status: 503, body: { error: 'try again' } };
        const known = sent.get(key);
        if (known) {
          repeated += 1;
          return { body: { messageId: known } };
        }
        const messageId = `m-${sent.size + 1}`;
        sent.set(key, messageId);
        return { body: { messageId } };
      });
      const notes = new Map<number, number>();
      let lost = 0;
      const crm = await serveJson((_req, _url, body) => {
        const { user } = JSON.parse(body) as { user: number };
        notes.set(user, (notes.get(user) ?? 0) + 1);
        // The note is made, but its answer is lost: the caller cannot tell it was.
        if (notes.get(user) === 1 && user % 11 === 0) {
          lost += 1;
          return { status: 502, body: { error: 'bad gateway' } };
        }
        return { body: { ok: true } };
      });
      usersApi = users.url;
      mailApi = mail.url;
      crmApi = crm.url;
      return {
        report: () => {
          const twice = [...notes.values()].filter((n) => n > 1).length;
          const noted = [...notes.values()].reduce((a, b) => a + b, 0);
          return (
            `mail API: ${sent.size} emails sent for ${USERS} users; ${repeated} repeated request(s) answered without sending again\n` +
            `CRM: ${noted} notes for ${notes.size} users, ${twice === 0 ? 'none' : twice} noted twice; ${lost} answer(s) lost after the note was made`
          );
        },
        stop: async () => {
          await users.stop();
          await mail.stop();
          await crm.stop();
        },
      };
    },
  },
});
