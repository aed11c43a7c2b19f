// bench/limiter_cost.py: as many requests as k6 can make in __ENV.DURATION (default 10s) with
// __ENV.VUS (default 10) VUs against the demo target at __ENV.BASE (loopback only).
import http from 'k6/http';
export const options = {
  vus: Number(__ENV.VUS || 10), duration: __ENV.DURATION || '10s',
  thresholds: { http_req_failed: ['rate<0.01'] },
};
export default function () { http.get(`${__ENV.BASE}/health/`); }
