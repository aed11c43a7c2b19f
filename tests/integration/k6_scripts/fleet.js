// A test for fleet runs (tests/integration/test_fleet.py): every value it records is derived from
// exec.scenario.iterationInTest, so the union of all load machines' samples can be compared bit for
// bit with one machine's run of the whole script.
//   FLEET_MODE=exact (default): shared-iterations, constant- and ramping-arrival-rate, a few seconds.
//   FLEET_MODE=long: 3 VUs for 40 s (a machine is killed mid-run).
//   FLEET_P95: one machine's p(95) of fleet_det; thresholds are set exactly at it.
//   FLEET_FLAKY=1: 2 of every 10 iterations on this machine request a page that does not exist.
//   FLEET_BREAK_INIT=1: the script fails while k6 initializes its VUs, on this machine (not in the
//     first init, __VU 0, which `k6 inspect` also runs: the plan passes, the run cannot start).
import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { Trend } from 'k6/metrics';

if (__ENV.FLEET_BREAK_INIT && __VU > 0) {
  throw new Error('init broken on purpose on this machine');
}

const BASE = __ENV.K6_BASE_URL || 'http://127.0.0.1:8480';
const det = new Trend('fleet_det');
const idx = new Trend('fleet_idx');

const exact = {
  shared: { executor: 'shared-iterations', vus: 3, iterations: 61, maxDuration: '30s' },
  car: { executor: 'constant-arrival-rate', rate: 50, timeUnit: '1s', duration: '4010ms', preAllocatedVUs: 6 },
  rar: {
    executor: 'ramping-arrival-rate', startRate: 10, timeUnit: '1s', preAllocatedVUs: 6,
    // The last tick lands at 3 s; 10 ms more keep it off the end, where it would race the deadline.
    stages: [{ target: 30, duration: '3s' }, { target: 30, duration: '10ms' }],
  },
};
const long = { long: { executor: 'constant-vus', vus: 3, duration: '40s' } };

const detThresholds = ['avg>=0', 'min>=0', 'med>=0', 'max>=0', 'p(90)>=0', 'p(95)>=0', 'p(99.9)>=0'];
if (__ENV.FLEET_P95) {
  detThresholds.push('p(95)<=' + __ENV.FLEET_P95, 'p(95)<' + __ENV.FLEET_P95);
}

export const options = {
  scenarios: __ENV.FLEET_MODE === 'long' ? long : exact,
  thresholds: {
    fleet_det: detThresholds,
    fleet_idx: ['max>=0'],
    iterations: ['count>=0'],
    http_req_failed: ['rate<0.15', 'rate<0.05'],
    checks: ['rate==1'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99.9)'],
};

function value(i) {
  return ((i * 7919) % 1009) / 7 + i / 1024;
}

export function setup() {
  http.get(BASE + '/health/?fleet=setup');
  return { token: 'fleet-' + Math.floor(Date.now() / 1000) };
}

export default function (data) {
  check(data, { 'setup data arrived': (d) => Boolean(d && d.token) });
  const i = exec.scenario.iterationInTest;
  det.add(value(i));
  idx.add(i);
  const flaky = __ENV.FLEET_FLAKY && i % 10 < 2;
  http.get(BASE + (flaky ? '/no-such-page/' : '/health/'));
  if (__ENV.FLEET_MODE === 'long') {
    sleep(0.2);
  }
}

export function teardown(data) {
  http.get(BASE + '/health/?fleet=teardown&token=' + (data && data.token));
}
