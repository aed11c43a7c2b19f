// 1 VU for a few seconds against __ENV.BASE; thresholds that hold on an idle demo target.
import http from 'k6/http';
import { check, sleep } from 'k6';
export const options = {
  vus: 1, duration: __ENV.DURATION || '2s',
  thresholds: {
    'http_req_duration{type:read}': ['p(95)<' + (__ENV.READ_P95 || '500')],
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
  },
};
export default function () {
  const res = http.get(`${__ENV.BASE}/health/`, { tags: { name: '/health/', type: 'read' } });
  check(res, { 'health is 200': (r) => r.status === 200 });
  sleep(0.05);
}
