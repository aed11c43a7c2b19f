// One script, several endings chosen by __ENV.MODE: abort, fail, throw_setup.
import exec from 'k6/execution';
import { sleep } from 'k6';
export const options = { vus: 1, duration: '3s' };
export function setup() { if (__ENV.MODE === 'throw_setup') { throw new Error('setup exploded on purpose'); } }
export default function () {
  if (__ENV.MODE === 'abort') { exec.test.abort('aborted on purpose'); }
  if (__ENV.MODE === 'fail') { exec.test.fail('failed on purpose'); }
  sleep(0.1);
}
