import { MAILCHIMP_MAX_PAGE, type MailchimpMember } from '../connectors/mailchimp.ts';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { MAILCHIMP_CONNECTION_PARAMS, mailchimpClientFor } from './util/mailchimp-step.ts';

/** Where a read stands between invocations: the `last_changed` reached and how many members at it were read. */
interface MailchimpContinuation {
  /** The greatest `last_changed` read so far. */
  readonly cursor?: string;
  /** Members read whose `last_changed` is the cursor (skipped with `offset` on the next call). */
  readonly atCursor: number;
  readonly pages: number;
  readonly emitted: number;
}

/** `datasource.read.mailchimp`: reads the members of a Mailchimp audience, by default those changed in the delta window. */
export const datasourceReadMailchimp = defineScript({
  type: 'datasource.read.mailchimp',
  summary:
    'Reads the members of a Mailchimp audience (Marketing API 3.0), those whose last_changed is in the delta window unless the run is a full extract.',
  description:
    'Members come as Mailchimp gives them (`email_address`, `status`, `merge_fields.<TAG>`, `last_changed`, `id`, …), oldest change first. ' +
    'The delta window becomes `since_last_changed=<from>` and `before_last_changed=<to>` (`last_changed` moves on any edit of the member, not only its status, so a window may bring back members whose status did not change; the boundary second is read again, which only repeats an idempotent update). ' +
    'Pages of `pageSize` members are read by key rather than offset: each call asks from the greatest `last_changed` read so far, skipping (with `offset`) the members at that very second already read, so members that change during the read cannot shift a page and be skipped. ' +
    'Continues past the invocation’s time budget from the same position. Auth: HTTP Basic with the API key; 429, 5xx and dropped connections are retried with backoff.',
  consumes: 'nothing',
  produces: 'records',
  continues: true,
  params: {
    ...MAILCHIMP_CONNECTION_PARAMS,
    status: {
      type: 'string',
      enum: ['', 'subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional', 'archived'],
      default: '',
      description: 'Only members with this status; empty: every status.',
    },
    pageSize: {
      type: 'integer',
      minimum: 1,
      maximum: MAILCHIMP_MAX_PAGE,
      default: MAILCHIMP_MAX_PAGE,
      description: 'Members per call (Mailchimp allows at most 1000).',
    },
  },
  create(params, ctx) {
    const client = mailchimpClientFor(params, ctx);
    const window = ctx.job.fullExtract ? undefined : ctx.job.delta;
    return {
      async read(out) {
        const state = (ctx.continuation as MailchimpContinuation | undefined) ?? { atCursor: 0, pages: 0, emitted: 0 };
        let { cursor, atCursor, pages, emitted } = state;
        const first = pages;
        let slowest = 0;
        for (;;) {
          if (out.remaining <= 0) return {};
          if (pages > first && Date.now() + Math.max(2 * slowest, 1000) >= ctx.deadline) {
            ctx.log.info(`Mailchimp: time budget reached after ${emitted} members in ${pages} pages; continuing`);
            return {
              continuation: {
                ...(cursor === undefined ? {} : { cursor }),
                atCursor,
                pages,
                emitted,
              } satisfies MailchimpContinuation,
            };
          }
          const started = Date.now();
          const since = cursor ?? window?.from;
          const page = await client.members(params.listId, {
            count: params.pageSize,
            offset: cursor === undefined ? 0 : atCursor,
            ...(since === undefined ? {} : { sinceLastChanged: since }),
            ...(window ? { beforeLastChanged: window.to } : {}),
            ...(params.status ? { status: params.status } : {}),
          });
          pages++;
          slowest = Math.max(slowest, Date.now() - started);
          out.progress?.({ pages });
          for (const member of page.members) {
            if (out.remaining <= 0) break;
            const { _links: _, ...record } = member as MailchimpMember & { _links?: unknown };
            out.emit(record);
            emitted++;
            const changed = member.last_changed;
            if (changed !== undefined) {
              if (changed === cursor) atCursor++;
              else {
                cursor = changed;
                atCursor = 1;
              }
            }
          }
          await out.flush();
          if (cursor === undefined && page.members.length)
            throw new IdxError(
              'IDX_MAILCHIMP_API',
              'Mailchimp gave members without last_changed, so the read cannot page on',
              {
                expected: 'members with last_changed',
                received: JSON.stringify(page.members[0]).slice(0, 200),
              },
            );
          if (page.members.length < params.pageSize) {
            ctx.log.info(`Mailchimp: read ${emitted} members of list ${params.listId} in ${pages} pages`);
            return {};
          }
        }
      },
    };
  },
});
