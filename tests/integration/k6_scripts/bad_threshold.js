export const options = { vus: 1, iterations: 1, thresholds: { http_req_duration: ['p(95)<200ms'] } };
export default function () {}
