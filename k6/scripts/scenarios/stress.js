// Stress: 50 -> 100 -> 200 VUs in steps, then ramp down; 14 minutes. Pushes past normal
// capacity to find the breaking point; relaxed thresholds (about 2x latency, < 5% errors).
// Run it on a dedicated load machine, never against production.
//
// Scale without editing: K6_TIME_SCALE multiplies every duration, K6_VU_SCALE every VU count
// (see utils/scaling.js). Thresholds come from config.js: thresholdsFor('stress').

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
    { duration: '2m', target: 50 }, // normal load
    { duration: '2m', target: 50 },
    { duration: '2m', target: 100 }, // above normal
    { duration: '2m', target: 100 },
    { duration: '2m', target: 200 }, // breaking point
    { duration: '2m', target: 200 },
    { duration: '2m', target: 0 }, // recovery
  ],
  gracefulRampDown: '10s',
  gracefulStop: '10s',
};

export const options = {
  scenarios: { stress: scaleScenario(PROFILE) },
  thresholds: thresholdsFor('stress'),
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
