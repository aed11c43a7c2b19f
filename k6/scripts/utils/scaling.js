// Scale a scenario's profile from the environment, without editing the scenario file.
//
//   K6_TIME_SCALE  float > 0, default 1: multiplies every stage duration, test duration,
//                  gracefulStop and gracefulRampDown. A non-zero duration never drops below 1 s.
//   K6_VU_SCALE    float > 0, default 1: multiplies VU counts and stage targets. A count that
//                  was at least 1 stays at least 1; 0 stays 0.
//
// Example: the 14-minute load profile in about 9 s with a fifth of the VUs:
//   K6_TIME_SCALE=0.01 K6_VU_SCALE=0.2 k6 run k6/scripts/scenarios/load.js

import { envNumber } from '../config.js';

const MIN_SCALED_MS = 1000;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function positiveFactor(name) {
  const factor = envNumber(name, 1);
  if (!(factor > 0)) {
    throw new Error(`${name} must be a number greater than 0, got ${__ENV[name]}`);
  }
  return factor;
}

export const TIME_SCALE = positiveFactor('K6_TIME_SCALE');
export const VU_SCALE = positiveFactor('K6_VU_SCALE');

/** Parse a k6 duration ('1m20s', '1500ms', '2h') or a number of seconds into milliseconds. */
export function parseDuration(value) {
  if (typeof value === 'number') {
    if (!(value >= 0)) throw new Error(`invalid duration ${value}`);
    return value * 1000;
  }
  const text = String(value).trim();
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new Error(`invalid duration ${JSON.stringify(value)} (expected e.g. "30s", "1m20s")`);
  }
  return parts.reduce((total, [, amount, unit]) => total + Number(amount) * UNIT_MS[unit], 0);
}

/** Format milliseconds as a k6 duration string ('90s', '1500ms'). */
export function formatDuration(ms) {
  const whole = Math.round(ms);
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

/** Scale one duration by `factor` (default K6_TIME_SCALE); non-zero results are >= 1 s. */
export function scaleDuration(value, factor = TIME_SCALE) {
  const ms = parseDuration(value);
  if (ms === 0) return '0s';
  return formatDuration(Math.max(MIN_SCALED_MS, ms * factor));
}

/** Scale a VU count by `factor` (default K6_VU_SCALE); a count >= 1 stays >= 1. */
export function scaleVUs(count, factor = VU_SCALE) {
  if (!(count >= 0)) throw new Error(`invalid VU count ${count}`);
  if (count === 0) return 0;
  return Math.max(1, Math.round(count * factor));
}

/** Scale ramping stages: every duration by the time factor, every target by the VU factor. */
export function scaleStages(stages, timeFactor = TIME_SCALE, vuFactor = VU_SCALE) {
  return stages.map(({ duration, target }) => ({
    duration: scaleDuration(duration, timeFactor),
    target: scaleVUs(target, vuFactor),
  }));
}

/**
 * Scale one k6 scenario definition (constant-vus or ramping-vus and friends): durations,
 * graceful stop/ramp-down, start time, VU counts and stages. Unknown keys are kept as they are.
 */
export function scaleScenario(scenario, timeFactor = TIME_SCALE, vuFactor = VU_SCALE) {
  const scaled = { ...scenario };
  for (const key of ['duration', 'gracefulStop', 'gracefulRampDown', 'startTime', 'maxDuration']) {
    if (scaled[key] !== undefined) scaled[key] = scaleDuration(scaled[key], timeFactor);
  }
  for (const key of ['vus', 'startVUs', 'preAllocatedVUs', 'maxVUs']) {
    if (scaled[key] !== undefined) scaled[key] = scaleVUs(scaled[key], vuFactor);
  }
  if (Array.isArray(scaled.stages)) scaled.stages = scaleStages(scaled.stages, timeFactor, vuFactor);
  return scaled;
}
