// Proves a secret reached k6 without the test repeating it: compares its SHA-256 with
// __ENV.SECRET_SHA256. Optionally pushes to an InfluxDB output the test runs (credentials check).
import crypto from 'k6/crypto';
import { check, sleep } from 'k6';
export const options = { vus: 1, duration: __ENV.DURATION || '2s', thresholds: { checks: ['rate==1'] } };
export default function () {
  check(null, { 'secret arrived': () => crypto.sha256(__ENV.K6_TEST_USER_PASSWORD || '', 'hex') === __ENV.SECRET_SHA256 });
  sleep(0.2);
}
