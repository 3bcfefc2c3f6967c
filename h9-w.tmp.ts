import { startGigyaEmulator } from './lib/local/gigya-emulator.ts';
import { GigyaClient } from './lib/connectors/gigya.ts';
const emu = await startGigyaEmulator({ dataDir: '/tmp/h9-repro/gigya' });
const c = new GigyaClient({ apiKey: emu.apiKey, userKey: emu.userKey, secret: emu.secret, endpoint: emu.url });
let t = performance.now();
let p = await c.searchPage('accounts.search', { query: 'SELECT UID, profile.email, profile.firstName, profile.lastName, data.subscribed FROM accounts WHERE (profile.email IS NOT NULL) ORDER BY lastUpdatedTimestamp LIMIT 1000', openCursor: true });
console.log('open ms', performance.now() - t, p.totalCount);
let pages = 1; t = performance.now();
while (p.nextCursorId) { p = await c.searchPage('accounts.search', { cursorId: p.nextCursorId }); pages++; }
console.log('pages', pages, 'ms/page', (performance.now() - t) / pages);
t = performance.now();
p = await c.searchPage('accounts.search', { query: 'SELECT count(*) FROM accounts WHERE (profile.email IS NOT NULL) ORDER BY lastUpdatedTimestamp LIMIT 1000' });
console.log('count again ms', performance.now() - t);
await emu.close();
console.log(process.memoryUsage().rss / 1e6);
