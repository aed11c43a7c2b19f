// Smoke: 1 VU for 30 s. Proves the target and the scripts work before any real load;
// strict thresholds (the base ones).
//
// Scale without editing: K6_TIME_SCALE multiplies every duration, K6_VU_SCALE every VU count
// (see utils/scaling.js). Thresholds come from config.js: thresholdsFor('smoke').

import { SUMMARY_TREND_STATS, thresholdsFor } from '../config.js';
import { apiEndpointsFlow } from '../flows/api-endpoints.js';
import { authenticationFlow } from '../flows/authentication.js';
import { pageLoadsFlow } from '../flows/page-loads.js';
import { thinkTime } from '../utils/pacing.js';
import { scaleScenario } from '../utils/scaling.js';
import { preflight } from '../utils/setup.js';

export const PROFILE = {
  executor: 'constant-vus',
  vus: 1,
  duration: '30s',
  gracefulStop: '10s',
};

export const options = {
  scenarios: { smoke: scaleScenario(PROFILE) },
  thresholds: thresholdsFor('smoke'),
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
