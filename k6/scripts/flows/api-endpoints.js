// API flow: the health endpoint, every list endpoint, and now and then a task creation.

import { check, group } from 'k6';
import exec from 'k6/execution';
import { WRITE_EVERY } from '../config.js';
import { invalidateToken } from '../utils/auth.js';
import { API, LIST_ENDPOINTS } from '../utils/endpoints.js';
import { isJsonList, jsonBody, send } from '../utils/http.js';

/** True on the iterations of this VU that should also write (its first, then every Nth). */
export function isWriteIteration(every = WRITE_EVERY) {
  return every > 0 && exec.vu.iterationInScenario % every === 0;
}

/** Create one task; returns the response. */
export function createTask(token) {
  const title = `loadops k6 task vu${exec.vu.idInTest} it${exec.vu.iterationInScenario}`;
  const res = send(API.createTask, { token, json: { title, status: 'todo' } });
  check(res, {
    'POST /api/tasks/: status is 201': (r) => r.status === 201,
    'POST /api/tasks/: echoes the title': (r) => (jsonBody(r) || {}).title === title,
  });
  return res;
}

/** Run the flow with the token from the authentication flow (skips protected calls without one). */
export function apiEndpointsFlow(token) {
  group('api', () => {
    const health = send(API.health);
    check(health, { 'GET /health/: status is 200': (r) => r.status === 200 });
    if (!token) return;

    for (const endpoint of LIST_ENDPOINTS) {
      const res = send(endpoint, { token });
      check(res, {
        [`GET ${endpoint.name}: status is 200`]: (r) => r.status === 200,
        [`GET ${endpoint.name}: is a JSON list`]: isJsonList,
      });
      if (res.status === 401) {
        invalidateToken();
        return;
      }
    }

    if (isWriteIteration()) createTask(token);
  });
}
