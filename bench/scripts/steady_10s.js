// bench/overhead.py: 10 s of light, fixed work (1 VU, one iteration a second, no network), so the
// module's overhead is the only difference between a raw `k6 run` and the module's run.
import { sleep } from 'k6';
export const options = { vus: 1, duration: '10s', thresholds: { iterations: ['count>=5'] } };
export default function () { sleep(1); }
