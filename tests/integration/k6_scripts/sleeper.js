// Sleeps for up to 60 s: for timeout and signal tests.
import { sleep } from 'k6';
export const options = { vus: 1, duration: '60s', thresholds: { iterations: ['count>=0'] } };
export default function () { sleep(0.2); }
