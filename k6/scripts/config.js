// Central settings for every loadops.k6 scenario.
//
// This module is the single source of truth for:
//   * where the load goes (BASE_URL, FRONTEND_URL) and who logs in (CREDENTIALS);
//   * every pass/fail threshold, per scenario (thresholdsFor);
//   * small behaviour switches read from the environment (verbose logging, think time, ...).
//
// Everything is read from `__ENV`, so one script runs unchanged against any target:
//   k6 run -e K6_BASE_URL=http://10.0.0.5:8000 k6/scripts/scenarios/smoke.js
// Note: `k6 run` forwards the process environment to __ENV, `k6 inspect` does NOT unless
// `--include-system-env-vars` (or `-e NAME=value`) is given.

/** Read an environment variable; empty strings count as unset. */
export function envString(name, fallback) {
  const value = __ENV[name];
  return value === undefined || value === '' ? fallback : value;
}

/** Read a boolean environment variable (true/1/yes/on, case-insensitive). */
export function envBool(name, fallback = false) {
  const value = envString(name, undefined);
  if (value === undefined) return fallback;
  return ['true', '1', 'yes', 'on'].includes(String(value).trim().toLowerCase());
}

/** Read a number; a value that is not a finite number is an error, not a silent default. */
export function envNumber(name, fallback) {
  const raw = envString(name, undefined);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) {
    throw new Error(`${name}=${JSON.stringify(raw)} is not a number`);
  }
  return value;
}

const stripTrailingSlash = (url) => url.replace(/\/+$/, '');

// --- target ------------------------------------------------------------------------------

export const BASE_URL = stripTrailingSlash(envString('K6_BASE_URL', 'http://127.0.0.1:8480'));
export const FRONTEND_URL = stripTrailingSlash(envString('K6_FRONTEND_URL', BASE_URL));

export const CREDENTIALS = Object.freeze({
  email: envString('K6_TEST_USER_EMAIL', 'demo@example.com'),
  password: envString('K6_TEST_USER_PASSWORD', 'demo-password'),
});

// --- behaviour switches --------------------------------------------------------------------

/** K6_VERBOSE=true logs one line per request and response. */
export const VERBOSE = envBool('K6_VERBOSE', false);

/** K6_ABORT_ON_FAIL=true stops the test as soon as a threshold is crossed (after 10 s). */
export const ABORT_ON_FAIL = envBool('K6_ABORT_ON_FAIL', false);

/** Per-request timeout; k6's own default (60 s) stalls ramps when the target hangs. */
export const HTTP_TIMEOUT = envString('K6_HTTP_TIMEOUT', '30s');

/**
 * Think time at the end of each iteration, in seconds: a uniform random pause in
 * [THINK_TIME_MIN, THINK_TIME_MAX]. Kept well under the 1 s iteration_duration budget.
 * K6_THINK_TIME=0 removes it (saturation / capacity runs).
 */
export const THINK_TIME_MAX = Math.max(0, envNumber('K6_THINK_TIME', 0.5));
export const THINK_TIME_MIN = THINK_TIME_MAX / 2;

/** One POST /api/tasks/ every N iterations of a VU (its first iteration always writes); 0 = never. */
export const WRITE_EVERY = Math.max(0, Math.floor(envNumber('K6_WRITE_EVERY', 10)));

/** A cached login token is reused by its VU for this many seconds before logging in again. */
export const TOKEN_TTL_SECONDS = Math.max(0, envNumber('K6_TOKEN_TTL', 300));

/** Percentiles shown in the end-of-test summary. */
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'];

// --- thresholds ----------------------------------------------------------------------------
//
// Metric keys use k6 submetric syntax. Every request carries a `type` tag (read|write), so
// read and write latencies are judged separately. A submetric without samples passes.

const BASE_LIMITS = Object.freeze({
  readP95Ms: 200, // http_req_duration{type:read}  p(95)
  writeP95Ms: 500, // http_req_duration{type:write} p(95)
  errorRate: 0.01, // http_req_failed               rate
  waitingP95Ms: 150, // http_req_waiting              p(95) (time to first byte)
  iterationP95Ms: 1000, // iteration_duration          p(95)
});

/** Per-scenario limits: smoke and load are strict, stress and spike tolerate degradation. */
export const SCENARIO_LIMITS = Object.freeze({
  smoke: BASE_LIMITS,
  load: BASE_LIMITS,
  stress: Object.freeze({
    readP95Ms: 400,
    writeP95Ms: 1000,
    errorRate: 0.05,
    waitingP95Ms: 300,
    iterationP95Ms: 2000,
  }),
  spike: Object.freeze({
    readP95Ms: 400,
    writeP95Ms: 1000,
    errorRate: 0.03,
    waitingP95Ms: 300,
    iterationP95Ms: 2000,
  }),
});

function expressionsFor(limits) {
  return {
    'http_req_duration{type:read}': [`p(95)<${limits.readP95Ms}`],
    'http_req_duration{type:write}': [`p(95)<${limits.writeP95Ms}`],
    http_req_failed: [`rate<${limits.errorRate}`],
    http_req_waiting: [`p(95)<${limits.waitingP95Ms}`],
    iteration_duration: [`p(95)<${limits.iterationP95Ms}`],
  };
}

/**
 * The k6 `thresholds` option for a scenario ('smoke', 'load', 'stress' or 'spike').
 *
 * With abortOnFail (default: K6_ABORT_ON_FAIL) each expression becomes
 * `{threshold, abortOnFail: true, delayAbortEval: '10s'}`: the run stops (exit 99) once a
 * threshold is crossed, but not during the first 10 s when percentiles rest on few samples.
 */
export function thresholdsFor(scenarioName, { abortOnFail = ABORT_ON_FAIL } = {}) {
  const limits = SCENARIO_LIMITS[scenarioName];
  if (!limits) {
    throw new Error(
      `thresholdsFor: unknown scenario ${JSON.stringify(scenarioName)}; ` +
        `known: ${Object.keys(SCENARIO_LIMITS).join(', ')}`,
    );
  }
  const thresholds = expressionsFor(limits);
  if (!abortOnFail) return thresholds;
  return Object.fromEntries(
    Object.entries(thresholds).map(([metric, expressions]) => [
      metric,
      expressions.map((threshold) => ({ threshold, abortOnFail: true, delayAbortEval: '10s' })),
    ]),
  );
}
