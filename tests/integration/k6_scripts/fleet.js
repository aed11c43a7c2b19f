// A test for fleet runs (tests/integration/test_fleet.py): every value it records is derived from
// exec.scenario.iterationInTest, so the union of all load machines' samples can be compared bit for
// bit with one machine's run of the whole script.
//   FLEET_MODE=exact (default): shared-iterations, constant- and ramping-arrival-rate, a few seconds.
//   FLEET_MODE=long: 3 VUs for 40 s (a machine is killed mid-run).
//   FLEET_P95: one machine's p(95) of fleet_det; thresholds are set exactly at it.
//   FLEET_FLAKY=1: 2 of every 10 iterations on this machine request a page that does not exist.
//   FLEET_BREAK_INIT=1: the script fails while k6 initializes its VUs, on this machine (not in the
//     first init, __VU 0, which `k6 inspect` also runs: the plan passes, the run cannot start).
//   FLEET_ABORT_RATE=1: http_req_failed 'rate<0.15' gets abortOnFail (a flaky machine alone crosses it).
//   FLEET_ABORT_COUNT=N: iterations 'count<N' with abortOnFail (crossed by all machines together).
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
  // An arrival-rate executor's end races its ticks: each k6 counts ticks from its own start, and a
  // machine whose executor starts a few ms late runs one tick more when the end lies close to a tick
  // (seen at 10 ms, a busy machine). Ticks 100 ms apart at the end and 60 ms to spare on each side:
  // car ticks at 0, 100, ..., 4000 ms (41 iterations).
  car: { executor: 'constant-arrival-rate', rate: 10, timeUnit: '1s', duration: '4060ms', preAllocatedVUs: 6 },
  rar: {
    executor: 'ramping-arrival-rate', startRate: 4, timeUnit: '1s', preAllocatedVUs: 6,
    // 4 -> 8 per second over 3 s: 4t + t^2/1.5 ticks by t, the 18th (last) at 3 s; the next would
    // come 125 ms later, at 8 per second. 18 iterations (measured: the first tick is not at 0).
    stages: [{ target: 8, duration: '3s' }, { target: 8, duration: '60ms' }],
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
    // The long run (lost-machine test): 'count<5' is crossed for good long before the kill.
    iterations: (__ENV.FLEET_MODE === 'long' ? ['count>=0', 'count<5'] : ['count>=0']).concat(
      __ENV.FLEET_ABORT_COUNT ? [{ threshold: 'count<' + __ENV.FLEET_ABORT_COUNT, abortOnFail: true }] : []),
    http_req_failed: [__ENV.FLEET_ABORT_RATE ? { threshold: 'rate<0.15', abortOnFail: true } : 'rate<0.15', 'rate<0.05'],
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
