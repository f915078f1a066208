import type { Selectable } from 'kysely';
import type { SupportHandoffNotesTable, SupportTicketsTable } from '../db/schema.ts';
import { z } from 'zod';
import type { ServiceContext } from '../service.ts';
import type { RateLimiter } from '../lib/rateLimit.ts';

/** Opening a ticket runs a diagnosis, which is rate limited per user. */
type TicketsContext = ServiceContext & { limiter: RateLimiter };
import { withTransaction, type DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import { parseInput } from '../lib/validate.ts';
import { getUser, maskEmail } from '../accounts/users.ts';
import { recordAudit, actorLabel, type Actor } from '../audit/index.ts';
import { redactSecrets, redactFields, redactionNotice, type SecretKind } from './redaction.ts';
import { classifyBillingCases, parseHints, countDiagnosis } from './doctor/index.ts';

// Tickets carry the fields support needs (seed answer: account, payment
// method, order time, amount, status, page message, submitted twice, masked
// reference), stored only after the secret scanner ran over every string.
// States: open → waiting_on_user / waiting_on_support → resolved → closed.

export const TICKET_STATES = ['open', 'waiting_on_user', 'waiting_on_support', 'resolved', 'closed'] as const;
export type TicketState = (typeof TICKET_STATES)[number];

const NEXT: Record<TicketState, TicketState[]> = {
  open: ['waiting_on_user', 'waiting_on_support', 'resolved'],
  waiting_on_user: ['waiting_on_support', 'resolved'],
  waiting_on_support: ['waiting_on_user', 'resolved'],
  resolved: ['closed', 'waiting_on_support', 'waiting_on_user'],
  closed: [],
};
export const canMoveTicket = (from: TicketState, to: TicketState) => NEXT[from].includes(to);

export const TicketBody = z.object({
  subject: z.string().trim().min(1).max(200),
  message: z.string().trim().min(1).max(10_000),
  contact: z.string().max(200).optional(),
  payment_method: z.string().max(40).optional(),
  order_time: z.string().max(40).optional(),
  amount: z.string().max(40).optional(),
  order_status: z.string().max(60).optional(),
  page_message: z.string().max(500).optional(),
  submitted_twice: z.boolean().optional(),
  reference: z.string().max(64).optional(),
});

const HandoffBody = z.object({
  owner: z.string().trim().min(1).max(200),
  environment: z.string().max(500).optional(),
  capability: z.string().max(500).optional(),
  last_known_good: z.string().max(1000).optional(),
  observed_symptom: z.string().max(2000).optional(),
  evidence_collected: z.string().max(4000).optional(),
  next_review_at: z.string().max(40).optional(),
});

type Findings = Array<{ field?: string; kind: SecretKind; replacement: string }>;
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

export async function getTicketRow(db: DbOrTx, id: string, opts: { userId?: string } = {}) {
  const r = typeof id === 'string' && id.length <= 64 ? await db.selectFrom('support_tickets').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
  // Another user's ticket answers exactly like a missing one.
  if (!r || (opts.userId !== undefined && r.user_id !== opts.userId))
    throw new TallyError('ticket_not_found', `ticket ${String(id).slice(0, 64)} does not exist`);
  return r;
}

const summaryOf = (r: Selectable<SupportTicketsTable>, audience: 'user' | 'staff') => {
  const fields = JSON.parse(r.fields);
  if (audience === 'staff' && typeof fields.contact === 'string' && fields.contact.includes('@')) fields.contact = maskEmail(fields.contact);
  return {
    id: r.id,
    user_id: r.user_id,
    subject: r.subject,
    status: r.status,
    fields,
    assignee: r.assignee,
    created_at: new Date(Number(r.created_at)).toISOString(),
    updated_at: new Date(Number(r.updated_at)).toISOString(),
    resolved_at: r.resolved_at ? new Date(Number(r.resolved_at)).toISOString() : null,
    closed_at: r.closed_at ? new Date(Number(r.closed_at)).toISOString() : null,
  };
};

/** A user opens a ticket: redact, attach the doctor's result, store, audit, all in one transaction. */
export async function openTicket({ ctx, input }: { ctx: TicketsContext; input: { userId: string; body: unknown; actor: Actor } }) {
  const b = parseInput(TicketBody, input.body);
  const { message, subject, ...rest } = b;
  const subj = redactSecrets(subject);
  const msg = redactSecrets(message);
  const fields = redactFields(rest as Record<string, unknown>);
  const findings: Findings = [
    ...subj.findings.map((f) => ({ field: 'subject', ...f })),
    ...msg.findings.map((f) => ({ field: 'message', ...f })),
    ...fields.findings,
  ];
  let diagnosis: unknown = null;
  // The attached diagnosis is the user's own view (another account's record is
  // only "belongs to another account"), and its hints count against the
  // doctor's limits; past them it is run on the account's own records alone.
  const { allowed } = await countDiagnosis(ctx.limiter, { userId: input.userId, ip: null });
  try {
    if (!allowed) throw new TallyError('rate_limited', 'the billing doctor was run too often');
    const hints = parseHints({
      amount: rest.amount,
      order_time: rest.order_time,
      page_message: fields.fields.page_message,
      submitted_twice: rest.submitted_twice,
      reference:
        typeof fields.fields.reference === 'string' && fields.fields.reference.length >= 4
          ? (fields.fields.reference as string).replace(/^.*[…*]+/, '').slice(-12)
          : undefined,
      method: rest.payment_method,
    });
    diagnosis = await classifyBillingCases({ ctx, input: { userId: input.userId, hints, audience: 'user' } });
  } catch (e) {
    // A hint the doctor cannot read must not stop the ticket: run it without hints.
    if (!(e instanceof TallyError)) throw e;
    diagnosis = await classifyBillingCases({ ctx, input: { userId: input.userId, audience: 'user' } });
  }
  const now = ctx.now();
  const id = newId('tkt');
  const redactions = findings.map((f) => ({ field: f.field, kind: f.kind, replacement: f.replacement }));
  await withTransaction(ctx.db, async (tx) => {
    await tx
      .insertInto('support_tickets')
      .values({
        id,
        user_id: input.userId,
        subject: subj.text,
        status: 'open',
        fields: json(fields.fields),
        diagnosis: json(diagnosis),
        redactions: json(redactions),
        assignee: null,
        created_at: now,
        updated_at: now,
        resolved_at: null,
        closed_at: null,
      })
      .execute();
    await tx
      .insertInto('support_ticket_messages')
      .values({
        id: newId('tkm'),
        ticket_id: id,
        author: actorLabel(input.actor),
        author_role: 'user',
        body: msg.text,
        redactions: json(msg.findings),
        created_at: now,
      })
      .execute();
    await recordAudit(tx, {
      actor: input.actor,
      action: 'ticket.open',
      target: id,
      data: { redacted: redactions.map((r) => r.kind) },
      after: { status: 'open' },
      now,
    });
  });
  return { ticket: await getTicketView(ctx.db, id, { audience: 'user' }), redactions, notice: redactionNotice(findings.map((f) => f.kind)) };
}

export async function listTickets(db: DbOrTx, f: { userId?: string; status?: TicketState; limit?: number; before?: string; audience: 'user' | 'staff' }) {
  let q = db
    .selectFrom('support_tickets')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(Math.min(Math.max(f.limit ?? 50, 1), 200));
  if (f.userId) q = q.where('user_id', '=', f.userId);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.before) q = q.where('id', '<', f.before);
  return (await q.execute()).map((r) => summaryOf(r, f.audience));
}

export async function getTicketView(db: DbOrTx, id: string, opts: { userId?: string; audience: 'user' | 'staff' }) {
  const r = await getTicketRow(db, id, opts);
  const messages = await db.selectFrom('support_ticket_messages').selectAll().where('ticket_id', '=', id).orderBy('id').execute();
  const notes = await db.selectFrom('support_handoff_notes').selectAll().where('ticket_id', '=', id).orderBy('id', 'desc').execute();
  const user = await getUser(db, r.user_id);
  return {
    ...summaryOf(r, opts.audience),
    account: maskEmail(user.email),
    redactions: r.redactions ? JSON.parse(r.redactions) : [],
    diagnosis: r.diagnosis ? JSON.parse(r.diagnosis) : null,
    messages: messages.map((m) => ({
      id: m.id,
      author_role: m.author_role,
      ...(opts.audience === 'staff' ? { author: m.author } : {}),
      body: m.body,
      redactions: m.redactions ? JSON.parse(m.redactions) : [],
      created_at: new Date(Number(m.created_at)).toISOString(),
    })),
    // Handoff notes are support's working record; the user sees the ticket, not the notes.
    ...(opts.audience === 'staff' ? { handoff: notes[0] ? noteView(notes[0]) : null, handoff_history: notes.slice(1).map(noteView) } : {}),
  };
}

const noteView = (n: Selectable<SupportHandoffNotesTable>) => ({
  owner: n.owner,
  environment: n.environment,
  capability: n.capability,
  last_known_good: n.last_known_good,
  observed_symptom: n.observed_symptom,
  evidence_collected: n.evidence_collected,
  next_review_at: n.next_review_at ? new Date(Number(n.next_review_at)).toISOString() : null,
  author: n.author,
  created_at: new Date(Number(n.created_at)).toISOString(),
});

/**
 * A message on a ticket. The user's own message moves the ticket to
 * waiting_on_support; a support reply moves it to waiting_on_user (or the
 * status given). A support reply is an audited action (one row, same transaction).
 */
export async function addTicketMessage({
  ctx,
  input,
}: {
  ctx: TicketsContext;
  input: { ticketId: string; actor: Actor; asUserId?: string; body: string; status?: TicketState; reason?: string };
}) {
  const text = typeof input.body === 'string' ? input.body.trim() : '';
  if (!text || text.length > 10_000) throw new TallyError('invalid_message', 'a message of 1 to 10000 characters is required', { param: 'message' });
  const red = redactSecrets(text);
  const byUser = input.asUserId !== undefined;
  const now = ctx.now();
  await withTransaction(ctx.db, async (tx) => {
    const t = await getTicketRow(tx, input.ticketId, byUser ? { userId: input.asUserId } : {});
    const from = t.status as TicketState;
    if (from === 'closed') throw new TallyError('ticket_closed', 'this ticket is closed; open a new one');
    const to: TicketState = input.status ?? (byUser ? 'waiting_on_support' : 'waiting_on_user');
    if (to !== from && !canMoveTicket(from, to)) throw new TallyError('illegal_ticket_transition', `a ticket that is ${from} cannot become ${to}`);
    await tx
      .insertInto('support_ticket_messages')
      .values({
        id: newId('tkm'),
        ticket_id: t.id,
        author: actorLabel(input.actor),
        author_role: byUser ? 'user' : 'support',
        body: red.text,
        redactions: json(red.findings),
        created_at: now,
      })
      .execute();
    await moveTicket(tx, t.id, from, to, now);
    if (!byUser)
      await recordAudit(tx, {
        actor: input.actor,
        action: 'ticket.reply',
        target: t.id,
        reason: input.reason ?? null,
        before: { status: from },
        after: { status: to },
        data: { redacted: red.findings.map((f) => f.kind) },
        now,
      });
  });
  return {
    ticket: await getTicketView(ctx.db, input.ticketId, byUser ? { userId: input.asUserId, audience: 'user' } : { audience: 'staff' }),
    notice: red.notice,
  };
}

async function moveTicket(tx: DbOrTx, id: string, from: TicketState, to: TicketState, now: number) {
  const r = await tx
    .updateTable('support_tickets')
    .set({
      status: to,
      updated_at: now,
      ...(to === 'resolved' && from !== 'resolved' ? { resolved_at: now } : {}),
      ...(to === 'closed' ? { closed_at: now } : {}),
    })
    .where('id', '=', id)
    .where('status', '=', from)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw new TallyError('ticket_changed', 'the ticket changed meanwhile; reload and try again');
}

/** Support resolves, closes or re-assigns a ticket: one audit row with before/after, same transaction. */
export async function setTicketStatus({
  ctx,
  input,
}: {
  ctx: TicketsContext;
  input: { ticketId: string; status: TicketState; actor: Actor; reason?: string; assignee?: string | null };
}) {
  if (!TICKET_STATES.includes(input.status)) throw new TallyError('invalid_status', `status must be one of ${TICKET_STATES.join(', ')}`, { param: 'status' });
  const now = ctx.now();
  await withTransaction(ctx.db, async (tx) => {
    const t = await getTicketRow(tx, input.ticketId);
    const from = t.status as TicketState;
    if (from !== input.status && !canMoveTicket(from, input.status))
      throw new TallyError('illegal_ticket_transition', `a ticket that is ${from} cannot become ${input.status}`);
    if (from !== input.status) await moveTicket(tx, t.id, from, input.status, now);
    if (input.assignee !== undefined) await tx.updateTable('support_tickets').set({ assignee: input.assignee }).where('id', '=', t.id).execute();
    await recordAudit(tx, {
      actor: input.actor,
      action: 'ticket.status',
      target: t.id,
      reason: input.reason ?? null,
      before: { status: from, assignee: t.assignee },
      after: { status: input.status, assignee: input.assignee === undefined ? t.assignee : input.assignee },
      now,
    });
  });
  return getTicketView(ctx.db, input.ticketId, { audience: 'staff' });
}

/** The handoff note (owner, environment, capability, last known good, symptom, evidence, next review). */
export async function writeHandoffNote({ ctx, input }: { ctx: TicketsContext; input: { ticketId: string; actor: Actor; body: unknown } }) {
  const b = parseInput(HandoffBody, input.body);
  const red = redactFields(b as Record<string, unknown>);
  const n = red.fields as typeof b;
  let next: number | null = null;
  if (n.next_review_at) {
    next = Date.parse(n.next_review_at);
    if (!Number.isFinite(next)) throw new TallyError('invalid_next_review_at', 'next_review_at must be a date and time', { param: 'next_review_at' });
  }
  const now = ctx.now();
  await withTransaction(ctx.db, async (tx) => {
    const t = await getTicketRow(tx, input.ticketId);
    const prev = await tx.selectFrom('support_handoff_notes').selectAll().where('ticket_id', '=', t.id).orderBy('id', 'desc').executeTakeFirst();
    const row = {
      id: newId('hnd'),
      ticket_id: t.id,
      owner: n.owner,
      environment: n.environment ?? null,
      capability: n.capability ?? null,
      last_known_good: n.last_known_good ?? null,
      observed_symptom: n.observed_symptom ?? null,
      evidence_collected: n.evidence_collected ?? null,
      next_review_at: next,
      author: actorLabel(input.actor),
      created_at: now,
    };
    await tx.insertInto('support_handoff_notes').values(row).execute();
    await recordAudit(tx, { actor: input.actor, action: 'ticket.handoff', target: t.id, before: prev ? noteView(prev) : null, after: noteView(row), now });
  });
  return getTicketView(ctx.db, input.ticketId, { audience: 'staff' });
}
