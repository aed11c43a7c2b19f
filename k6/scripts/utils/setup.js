// Pre-flight for setup(): fail fast, with a message a human can act on, when the target cannot
// serve the test. Aborting here (exit code 108) beats a run where 100% of requests fail.

import exec from 'k6/execution';
import { BASE_URL, CREDENTIALS, FRONTEND_URL } from '../config.js';
import { API, PAGES } from './endpoints.js';
import { send } from './http.js';
import { login } from './auth.js';

const PREFLIGHT_TIMEOUT = '10s';

/** Explain a failed pre-flight response; null when the response is acceptable. */
export function diagnose(res, what, url) {
  if (res.status === 0) {
    return (
      `${what} ${url} did not answer (status 0: target unreachable; ${res.error_code} ${res.error}). ` +
      'Is the service running, and is K6_BASE_URL / K6_FRONTEND_URL right from this load machine?'
    );
  }
  if (res.status === 400) {
    return (
      `${what} ${url} answered 400 Bad Request: the target most likely rejects the Host header ` +
      `(Django ALLOWED_HOSTS or a proxy's server_name). Add the host of ${url} to the allowed hosts.`
    );
  }
  if (res.status >= 500) {
    return `${what} ${url} answered ${res.status}: the target is unhealthy, check its logs.`;
  }
  return null;
}

// exec.test.abort() ends the whole test (exit code 108) and prints "test aborted: <message>".
function abort(message) {
  exec.test.abort(`pre-flight failed: ${message}`);
}

/**
 * Check the API health endpoint, the test user's login and the frontend's root page.
 * Returns a small summary object that setup() can pass on to the VUs.
 */
export function preflight() {
  const tags = { preflight: 'true' };
  const health = send(API.health, { timeout: PREFLIGHT_TIMEOUT, tags });
  let problem = diagnose(health, 'health check', API.health.url);
  if (!problem && health.status !== 200) {
    problem = `health check ${API.health.url} answered ${health.status}, expected 200.`;
  }
  if (problem) return abort(problem);

  const { res, token } = login(CREDENTIALS, { timeout: PREFLIGHT_TIMEOUT, tags });
  problem = diagnose(res, 'login', API.login.url);
  if (!problem && (res.status === 401 || res.status === 403)) {
    problem =
      `login as ${CREDENTIALS.email} was refused (${res.status}): ` +
      'check K6_TEST_USER_EMAIL / K6_TEST_USER_PASSWORD and that the user exists on the target.';
  } else if (!problem && !token) {
    problem = `login answered ${res.status} without a token in the body.`;
  }
  if (problem) return abort(problem);

  if (FRONTEND_URL !== BASE_URL) {
    const home = send(PAGES[0], { timeout: PREFLIGHT_TIMEOUT, tags });
    problem = diagnose(home, 'frontend page', PAGES[0].url);
    if (problem) return abort(problem);
  }
  return { baseUrl: BASE_URL, frontendUrl: FRONTEND_URL, checkedAt: new Date().toISOString() };
}
