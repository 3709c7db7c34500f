// POST /auth/token: OAuth 2 client credentials, answered like Upvest's token endpoint.
import type { SimulatorContext } from './context.js';
import type { Exchange } from './exchange.js';

const FORM = 'application/x-www-form-urlencoded';

export function handleToken(ex: Exchange, ctx: SimulatorContext): void {
  const contentType = (ex.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== FORM) {
    ex.problem(415, `content-type must be ${FORM}, got ${JSON.stringify(ex.req.headers['content-type'] ?? '')}`);
    return;
  }
  const form = new URLSearchParams(ex.body.toString('utf8'));
  for (const name of ['client_id', 'client_secret', 'grant_type']) {
    if (!form.get(name)) {
      ex.problem(400, `${name} is required`);
      return;
    }
  }
  const grantType = form.get('grant_type');
  if (grantType !== 'client_credentials') {
    ex.problem(400, `unsupported grant_type ${JSON.stringify(grantType)}; only client_credentials is supported`);
    return;
  }
  const clientId = form.get('client_id')!;
  if (clientId !== ctx.clientId || form.get('client_secret') !== ctx.clientSecret) {
    ex.problem(401, 'invalid client credentials');
    return;
  }
  if (ex.req.headers['upvest-client-id'] !== clientId) {
    ex.problem(401, 'upvest-client-id does not match client_id');
    return;
  }
  const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
  const { token, expiresIn } = ctx.tokens.issue(clientId, scopes);
  ctx.stats.tokensIssued++;
  ex.json(
    200,
    { access_token: token, expires_in: expiresIn, token_type: 'bearer', scope: scopes.join(' ') },
    { 'cache-control': 'no-store' },
  );
}
