// Authentication flow: obtain (or reuse) the VU's token, then read the current user and teams.

import { check, group } from 'k6';
import { CREDENTIALS } from '../config.js';
import { getToken, invalidateToken } from '../utils/auth.js';
import { API } from '../utils/endpoints.js';
import { isJsonList, jsonBody, send } from '../utils/http.js';

/** Run the flow; returns the bearer token for the other flows (null when login failed). */
export function authenticationFlow() {
  return group('authentication', () => {
    const token = getToken();
    if (!token) return null;

    const me = send(API.me, { token });
    check(me, {
      'GET /auth/me/: status is 200': (r) => r.status === 200,
      'GET /auth/me/: is the test user': (r) => (jsonBody(r) || {}).email === CREDENTIALS.email,
    });
    if (me.status === 401) {
      invalidateToken();
      return null;
    }

    const teams = send(API.myTeams, { token });
    check(teams, {
      'GET /auth/me/teams/: status is 200': (r) => r.status === 200,
      'GET /auth/me/teams/: is a JSON list': isJsonList,
    });
    return token;
  });
}
