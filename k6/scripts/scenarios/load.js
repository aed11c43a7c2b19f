// Load: ramp to 10 VUs, hold, ramp to 50 VUs, hold, ramp down; 14 minutes. Measures behaviour
// under the expected production load; base thresholds.
//
// Scale without editing: K6_TIME_SCALE multiplies every duration, K6_VU_SCALE every VU count
// (see utils/scaling.js). Thresholds come from config.js: thresholdsFor('load').

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
    { duration: '2m', target: 10 }, // warm up
    { duration: '3m', target: 10 }, // baseline
    { duration: '2m', target: 50 }, // ramp to normal peak
    { duration: '5m', target: 50 }, // sustained load
    { duration: '2m', target: 0 }, // ramp down
  ],
  gracefulRampDown: '10s',
  gracefulStop: '10s',
};

export const options = {
  scenarios: { load: scaleScenario(PROFILE) },
  thresholds: thresholdsFor('load'),
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
