// http: a first test of any HTTP service. Every VU sends GET K6_BASE_URL + K6_HTTP_PATH, expects a
// 2xx answer, pauses, and repeats. No login, no setup(), nothing of the seed application's API.
//
// Everything comes from the environment (scenario_run_env when run by the role):
//   K6_HTTP_PATH            the path under K6_BASE_URL, starting with '/' (default '/')
//   K6_HTTP_VUS             virtual users (default 1)
//   K6_HTTP_DURATION        how long they run, a k6 duration (default '30s')
//   K6_HTTP_SLEEP           seconds each VU pauses after a request (default 1; 0 = no pause)
//   K6_HTTP_P95_MS          threshold: p(95) of the request duration below this many ms (default 500)
//   K6_HTTP_MAX_ERROR_RATE  threshold: share of failed requests (not 2xx) below this (default 0.01)
// K6_TIME_SCALE and K6_VU_SCALE scale the profile as for the other scenarios (utils/scaling.js).
//
//   k6 run -e K6_BASE_URL=http://127.0.0.1:8480 -e K6_HTTP_PATH=/health/ k6/scripts/scenarios/http.js

import { check, sleep } from 'k6';
import http from 'k6/http';
import { BASE_URL, HTTP_TIMEOUT, SUMMARY_TREND_STATS, envNumber, envString } from '../config.js';
import { scaleScenario } from '../utils/scaling.js';

const PATH = envString('K6_HTTP_PATH', '/');
// The URL stays on K6_BASE_URL's host (the host the allowlist judged): a path, never a URL.
if (!PATH.startsWith('/') || PATH.startsWith('//')) {
  throw new Error(`K6_HTTP_PATH=${JSON.stringify(PATH)} must be a path starting with a single '/', e.g. /health/`);
}
const URL = `${BASE_URL}${PATH}`;

function positive(name, fallback) {
  const value = envNumber(name, fallback);
  if (!(value > 0)) throw new Error(`${name} must be a number greater than 0, got ${__ENV[name]}`);
  return value;
}

const VUS = Math.round(positive('K6_HTTP_VUS', 1));
const P95_MS = positive('K6_HTTP_P95_MS', 500);
const MAX_ERROR_RATE = envNumber('K6_HTTP_MAX_ERROR_RATE', 0.01);
if (!(MAX_ERROR_RATE > 0 && MAX_ERROR_RATE <= 1)) {
  throw new Error(`K6_HTTP_MAX_ERROR_RATE must be above 0 and at most 1, got ${__ENV.K6_HTTP_MAX_ERROR_RATE}`);
}
const PAUSE_S = Math.max(0, envNumber('K6_HTTP_SLEEP', 1));

export const PROFILE = {
  executor: 'constant-vus',
  vus: VUS,
  duration: envString('K6_HTTP_DURATION', '30s'),
  gracefulStop: '10s',
};

// Only 2xx counts as success (k6's default also accepts 3xx; redirects are not followed here).
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }));

export const options = {
  scenarios: { http: scaleScenario(PROFILE) },
  thresholds: {
    http_req_duration: [`p(95)<${P95_MS}`],
    http_req_failed: [`rate<${MAX_ERROR_RATE}`],
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export default function () {
  const res = http.get(URL, { tags: { name: PATH, type: 'read' }, timeout: HTTP_TIMEOUT });
  check(res, { 'status is 2xx': (r) => r.status >= 200 && r.status < 300 });
  if (PAUSE_S > 0) sleep(PAUSE_S);
}
