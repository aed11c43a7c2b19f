// Verify script of the docker Molecule scenario: 20 requests to InfluxDB's /ping on loopback.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 20,
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  check(http.get(__ENV.PING_URL), { 'ping answers 204': (r) => r.status === 204 });
}
