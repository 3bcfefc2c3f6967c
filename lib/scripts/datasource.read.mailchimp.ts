import { MAILCHIMP_MAX_PAGE, type MailchimpMember } from '../connectors/mailchimp.ts';
import { defineScript } from '../core/script.ts';
import { MAILCHIMP_CONNECTION_PARAMS, mailchimpClientFor } from './util/mailchimp-step.ts';
import { readByChangeKey } from './util/platform-read.ts';

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
      read: (out) =>
        readByChangeKey(ctx, out, {
          platform: 'Mailchimp',
          errorCode: 'IDX_MAILCHIMP_API',
          page: async ({ cursor, atCursor }) => {
            const since = cursor ?? window?.from;
            const page = await client.members(params.listId, {
              count: params.pageSize,
              offset: atCursor,
              ...(since === undefined ? {} : { sinceLastChanged: since }),
              ...(window ? { beforeLastChanged: window.to } : {}),
              ...(params.status ? { status: params.status } : {}),
            });
            return { items: page.members, more: page.members.length >= params.pageSize };
          },
          changed: (member) => member.last_changed,
          record: ({ _links: _, ...member }: MailchimpMember & { _links?: unknown }) => member,
        }),
    };
  },
});
