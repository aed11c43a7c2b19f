// Prints every secret it was given to k6's log and sends one as a header and in a URL to the
// demo target: a run whose results must still hold none of them.
import http from 'k6/http';
import { sleep } from 'k6';
export const options = { vus: 1, duration: __ENV.DURATION || '3s', thresholds: { http_req_failed: ['rate<1'] } };
export default function () {
  console.log('secrets: ' + __ENV.K6_PASS + ' ' + __ENV.K6_AUTH_HEADER + ' ' + __ENV.K6_SESSION_COOKIE + ' ' + __ENV.PLAIN_NAMED);
  http.get(__ENV.BASE + '/health/?cookie=' + __ENV.K6_SESSION_COOKIE, { headers: { Authorization: __ENV.K6_AUTH_HEADER } });
  sleep(0.3);
}
