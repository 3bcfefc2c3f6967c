/**
 * Comments and Game Mechanics (Loyalty) in the Gigya emulator: the methods `datasource.read.gigya.comment` and
 * `datasource.lookup.gigya.gm` call, over deterministic sample data (the same on every start, so nothing of it
 * is persisted under `.idx/`). Registered in the emulator's handlers table, they get its envelope, auth checks,
 * fault injection and call log like every other method.
 *
 * Where each behaviour comes from (reference extras.md §2 and §3):
 * - `comments.search` is **our inference, not a documented method**. No public document names the API the
 *   IdentitySync comments reader calls; the public Comments REST API (`comments.getComments`,
 *   `comments.getStreamInfo`) is per stream and has no cross-stream search or cursor, so the reader must use an
 *   internal search. The emulator serves it as `accounts.search` works (apis.md §A.5): `query` =
 *   `SELECT … FROM streams|comments WHERE … ORDER BY … LIMIT n` with `openCursor` / `cursorId` paging, the same
 *   WHERE language (double-quoted strings), the same cursor engine and the same codes (400006 for another
 *   collection or a bad query, 400002 without a query). [verify against a real site]
 * - Stream records are StreamInfo objects (developers.gigya.com "StreamInfo" object page, "comments.getStreamInfo
 *   REST"): `streamID`, `categoryID`, `streamTitle` (absent on some, as the sportstalk247 gigya-comment-migration
 *   script tolerates), `streamURL`, `status` (readonly|enabled|disabled), `createDate`, `commentCount`,
 *   `threadCount`, `lastCommentTimestamp`, `avgRatings` (review categories), `moderationMode`, `streamTags`, plus
 *   `timestamp`, which that migration script reads as the creation time (equal to `createDate` here). [verify]
 * - Comment records are Comment objects (developers.gigya.com "Comment JS" object page, and a captured
 *   `comments.getComments` response in a public gist): `ID` (32 hex), `streamId` (lower-case d, as the Comment
 *   object spells it), `categoryID`, `parentID` (replies only), `threadID`, `commentText`, `tags`, `sender`
 *   (`UID`, `name`, `loginProvider`, `isSelf`), `timestamp`, `threadTimestamp`, `status`, `rejectInfo.reason`,
 *   `edited`, `flagCount`, `posVotes`, `negVotes`, `TotalVotes` (capital T, as the live response spells it), and
 *   `ratings` in review categories. Casing of `categoryID` / `parentID` in an export is [verify]; `categoryID`
 *   is used because the published dataflows filter on it.
 * - Rating dimensions with dots in their names (`"delivery.speed"`) stand for the dotted field names the reader's
 *   `keepFieldNamesWithDotAsIs` param exists for. What real exports hold there is [verify].
 * - `gm.getChallengeStatus` (developers.gigya.com "gm.getChallengeStatus REST" and "…JS"): `UID` required
 *   (400002 without), an unknown UID answers 403005 (extras.md §3.4), `includeChallenges` (comma list, `*` all,
 *   the default), `excludeChallenges` (comma list), `details` basic|full (documented on the JS variant; 400006
 *   for another value). The response's `challenges[]` fields (`challengeID`, `level`, `levelTitle`, `badgeURL`,
 *   `pointsTotal`; with `details=full` also `title` and `description`) are our reading of the docs' wording, not
 *   confirmed. [verify]
 */
import { createHash } from 'node:crypto';
import type { Query } from './gigya-query.ts';
import { StoreError } from './gigya-store.ts';

/** A sample document (stream or comment). */
type Doc = Record<string, unknown>;

/** Streams in the sample: most in category `comments`, the rest in the review category `reviews`. */
export const SAMPLE_STREAMS = 700;
/** Streams of the sample in category `comments` (the others are in `reviews`). */
export const SAMPLE_COMMENT_STREAMS = 650;
/** The sample's first stream was created then; stream `i` seven hours after stream `i - 1`. */
const SAMPLE_EPOCH = Date.parse('2025-01-01T00:00:00Z');
const HOUR = 3_600_000;

/** Deterministic bytes for a name (the sample must be the same on every start). */
function bytesOf(name: string): Buffer {
  return createHash('sha256').update(name).digest();
}

const hex32 = (name: string) => bytesOf(name).toString('hex').slice(0, 32);
const byte = (b: Buffer, i: number) => b[i % b.length] as number;

/** The sample's stream records, in creation order. */
export function sampleStreams(): Doc[] {
  const out: Doc[] = [];
  for (let i = 0; i < SAMPLE_STREAMS; i++) {
    const review = i >= SAMPLE_COMMENT_STREAMS;
    const b = bytesOf(`stream ${i}`);
    const created = SAMPLE_EPOCH + i * 7 * HOUR;
    const comments = commentsOfStream(i);
    const threads = comments.filter((c) => c.parentID === undefined).length;
    const id = review ? `product-${String(i).padStart(4, '0')}` : `article-${String(i).padStart(4, '0')}`;
    out.push({
      streamID: id,
      categoryID: review ? 'reviews' : 'comments',
      // Some streams were created by a comment before anyone set a title.
      ...(i % 10 === 3 ? {} : { streamTitle: review ? `Product ${i}` : `Article ${i}: "news" & views` }),
      streamURL: `https://www.example.com/${review ? 'products' : 'articles'}/${id}`,
      status: ['enabled', 'enabled', 'enabled', 'readonly', 'disabled'][byte(b, 0) % 5],
      createDate: created,
      timestamp: created,
      commentCount: comments.length,
      threadCount: threads,
      ...(comments.length ? { lastCommentTimestamp: comments[comments.length - 1]?.timestamp } : {}),
      moderationMode: byte(b, 1) % 3 === 0 ? 'pre' : 'post',
      streamTags: byte(b, 2) % 2 === 0 ? ['sport'] : ['news', 'local'],
      ...(review ? { avgRatings: { _overall: 1 + (byte(b, 3) % 40) / 10 } } : {}),
    });
  }
  return out;
}

/** The comments of stream `i`, oldest first: 0 to 4 threads, each with 0 to 2 replies. */
function commentsOfStream(i: number): Doc[] {
  const review = i >= SAMPLE_COMMENT_STREAMS;
  const b = bytesOf(`stream ${i}`);
  const streamId = review ? `product-${String(i).padStart(4, '0')}` : `article-${String(i).padStart(4, '0')}`;
  const created = SAMPLE_EPOCH + i * 7 * HOUR;
  const out: Doc[] = [];
  const threads = byte(b, 4) % 5;
  let t = created;
  for (let th = 0; th < threads; th++) {
    const threadId = hex32(`comment ${i} ${th}`);
    const replies = byte(b, 5 + th) % 3;
    const threadTime = t + HOUR;
    for (let r = 0; r <= replies; r++) {
      t += HOUR;
      const id = r === 0 ? threadId : hex32(`comment ${i} ${th} ${r}`);
      const c = bytesOf(`comment ${id}`);
      const sender = byte(c, 0) % 8 === 0 ? undefined : hex32(`sender ${byte(c, 1) % 40}`);
      const pos = byte(c, 2) % 6;
      const neg = byte(c, 3) % 3;
      out.push({
        ID: id,
        streamId,
        categoryID: review ? 'reviews' : 'comments',
        ...(r === 0 ? {} : { parentID: threadId }),
        threadID: threadId,
        commentText:
          r === 0
            ? `<p>Thread ${th} on ${streamId}, with "quotes", a comma and ünïcödé</p>`
            : `Reply ${r} to thread ${th}<br/>on two lines`,
        tags: byte(c, 4) % 4 === 0 ? ['featured'] : [],
        sender: sender
          ? { UID: sender, name: `Sender ${byte(c, 1) % 40}`, loginProvider: 'site', isSelf: false }
          : { name: 'Anonymous', isSelf: false },
        timestamp: t,
        threadTimestamp: threadTime,
        status: byte(c, 5) % 7 === 0 ? 'pending' : 'published',
        rejectInfo: { reason: 0 },
        edited: byte(c, 6) % 5 === 0,
        flagCount: byte(c, 7) % 2,
        posVotes: pos,
        negVotes: neg,
        TotalVotes: pos + neg,
        ...(review && r === 0
          ? { ratings: { _overall: 1 + (byte(c, 8) % 5), 'delivery.speed': 1 + (byte(c, 9) % 5) } }
          : {}),
      });
    }
  }
  return out;
}

/** The sample's comment records, stream by stream, oldest first within a stream. */
export function sampleComments(): Doc[] {
  const out: Doc[] = [];
  for (let i = 0; i < SAMPLE_STREAMS; i++) out.push(...commentsOfStream(i));
  return out;
}

/** What {@link commentsMethods} needs of the emulator: its search and cursor engine (see gigya-emulator.ts). */
export interface EmulatorSearch<F> {
  runSearch(params: Record<string, string>, collect: (q: Query) => F | Promise<F>): Promise<Record<string, unknown>>;
  searchDocuments(
    q: Query,
    docs: Record<string, unknown>[],
    idOf: (d: Record<string, unknown>) => string,
    lookup: (id: string) => Record<string, unknown> | undefined,
    owned: boolean,
  ): F;
}

/** The Comments methods: `comments.search` over the sample streams and comments. */
export function commentsMethods<F>(
  search: EmulatorSearch<F>,
): Record<string, (params: Record<string, string>) => Promise<Record<string, unknown>>> {
  // Built on first use: an emulator that never serves comments does not pay for them.
  let collections: Map<string, Map<string, Doc>> | undefined;
  const collection = (from: string): Map<string, Doc> => {
    collections ??= new Map([
      ['streams', new Map(sampleStreams().map((s) => [s.streamID as string, s]))],
      ['comments', new Map(sampleComments().map((c) => [c.ID as string, c]))],
    ]);
    const found = collections.get(from);
    if (!found)
      throw new StoreError(400006, `comments.search cannot search ${JSON.stringify(from)} (streams or comments)`);
    return found;
  };
  return {
    'comments.search': (params) =>
      search.runSearch(params, (q) => {
        const docs = collection(q.from);
        const idOf = (d: Record<string, unknown>) => String(q.from === 'streams' ? d.streamID : d.ID);
        return search.searchDocuments(q, [...docs.values()], idOf, (id) => docs.get(id), false);
      }),
  };
}

/** One Game Mechanics challenge of the sample configuration. */
interface Challenge {
  readonly challengeID: string;
  readonly title: string;
  readonly description: string;
  readonly levels: readonly string[];
}

/** The sample site's challenges (what gm.getChallengeConfig would list). */
export const SAMPLE_CHALLENGES: readonly Challenge[] = [
  {
    challengeID: '_default',
    title: 'Overall',
    description: 'Points for every action',
    levels: ['Newbie', 'Regular', 'Expert', 'Legend'],
  },
  {
    challengeID: 'commenter',
    title: 'Commenter',
    description: 'Comment on articles',
    levels: ['First words', 'Chatty', 'Pundit'],
  },
  { challengeID: 'reviewer', title: 'Reviewer', description: 'Review products', levels: ['Critic', 'Top critic'] },
  {
    challengeID: 'socializer',
    title: 'Socializer',
    description: 'Share on social networks',
    levels: ['Sharer', 'Influencer', 'Star'],
  },
];

/**
 * The challenge statuses of an account in the sample, before include/exclude filtering: derived from its UID, so
 * every account has the same ones on every start. About a fifth of the accounts have none.
 */
export function sampleChallengeStatus(uid: string, details: 'basic' | 'full' = 'basic'): Doc[] {
  const b = bytesOf(`gm ${uid}`);
  if (byte(b, 0) % 5 === 0) return [];
  const out: Doc[] = [];
  SAMPLE_CHALLENGES.forEach((c, j) => {
    const v = byte(b, 1 + j);
    if (j > 0 && v % 3 === 0) return;
    const level = v % c.levels.length;
    out.push({
      challengeID: c.challengeID,
      ...(details === 'full' ? { title: c.title, description: c.description } : {}),
      level,
      levelTitle: c.levels[level],
      badgeURL: `https://cdn.example.com/badges/${c.challengeID}/${level}.png`,
      pointsTotal: level * 100 + (byte(b, 8 + j) % 100),
    });
  });
  return out;
}

/** A comma list of challenge ids (`*` or empty: none given). */
const idList = (v: string | undefined): Set<string> | undefined => {
  const ids = (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return ids.length === 0 || ids.includes('*') ? undefined : new Set(ids);
};

/** The Game Mechanics methods: `gm.getChallengeStatus` for the emulator's accounts. */
export function gameMechanicsMethods(store: {
  readonly accounts: { has(uid: string): boolean };
}): Record<string, (params: Record<string, string>) => Record<string, unknown>> {
  return {
    'gm.getChallengeStatus': (params) => {
      const uid = params.UID;
      if (uid === undefined || uid === '') throw new StoreError(400002, 'UID is required');
      const details = params.details ?? 'basic';
      if (details !== 'basic' && details !== 'full') throw new StoreError(400006, 'details must be basic or full');
      if (!store.accounts.has(uid)) throw new StoreError(403005, `no account with UID ${JSON.stringify(uid)}`);
      const include = idList(params.includeChallenges);
      const exclude = idList(params.excludeChallenges) ?? new Set();
      const challenges = sampleChallengeStatus(uid, details).filter(
        (c) => (include === undefined || include.has(c.challengeID as string)) && !exclude.has(c.challengeID as string),
      );
      return { challenges };
    },
  };
}
