// Spike: 0 -> 100 VUs in 10 s, held 1 minute, then down in 10 s; 1 m 20 s. Checks that the
// target survives and recovers from a sudden surge; errors < 3%, relaxed latencies.
//
// Scale without editing: K6_TIME_SCALE multiplies every duration, K6_VU_SCALE every VU count
// (see utils/scaling.js). Thresholds come from config.js: thresholdsFor('spike').

import { SUMMARY_TREND_STATS, thresholdsFor } from '../config.js';
import { apiEndpointsFlow } from '../flows/api-endpoints.js';
import { authenticationFlow } from '../flows/authentication.js';
import { pageLoadsFlow } from '../flows/page-loads.js';
import { thinkTime } from '../utils/pacing.js';
import { scaleScenario } from '../utils/scaling.js';
import { preflight } from '../utils/setup.js';

export const PROFILE = {
  executor: 'ramping-vus',
  startVUs: 0,
  stages: [
    { duration: '10s', target: 100 }, // sudden surge
    { duration: '1m', target: 100 }, // hold the spike
    { duration: '10s', target: 0 }, // drop
  ],
  gracefulRampDown: '10s',
  gracefulStop: '10s',
};

export const options = {
  scenarios: { spike: scaleScenario(PROFILE) },
  thresholds: thresholdsFor('spike'),
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup() {
  return preflight();
}

export default function () {
  const token = authenticationFlow();
  apiEndpointsFlow(token);
  pageLoadsFlow();
  thinkTime();
}
