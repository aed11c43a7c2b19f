// Login and per-VU token caching.
//
// Each k6 VU runs its own copy of this module, so the module-level cache below is private to
// one VU: a VU logs in once, reuses its token for TOKEN_TTL_SECONDS, and logs in again when the
// token expires or the target answers 401. The login endpoint is thus exercised without being
// hammered on every iteration.

import { check } from 'k6';
import { CREDENTIALS, TOKEN_TTL_SECONDS } from '../config.js';
import { API } from './endpoints.js';
import { jsonBody, send } from './http.js';

let cachedToken = null;
let cachedAt = 0;

/** Extract the bearer token from a login response (accepts token/access/key field names). */
export function tokenFrom(res) {
  const body = jsonBody(res);
  if (!body || typeof body !== 'object') return null;
  return body.token || body.access || body.key || null;
}

/** POST /auth/login/ and return the token, or null when the login failed. */
export function login(credentials = CREDENTIALS, options = {}) {
  const res = send(API.login, {
    json: { email: credentials.email, password: credentials.password },
    ...options,
  });
  const token = tokenFrom(res);
  check(res, {
    'login: status is 200': (r) => r.status === 200,
    'login: response carries a token': () => Boolean(token),
  });
  return { res, token };
}

/** The VU's cached token; logs in when there is none or it is older than the TTL. */
export function getToken() {
  const ageSeconds = (Date.now() - cachedAt) / 1000;
  if (cachedToken && ageSeconds < TOKEN_TTL_SECONDS) return cachedToken;
  const { token } = login();
  cachedToken = token;
  cachedAt = Date.now();
  return token;
}

/** Forget the cached token (call after a 401): the next getToken() logs in again. */
export function invalidateToken() {
  cachedToken = null;
  cachedAt = 0;
}
