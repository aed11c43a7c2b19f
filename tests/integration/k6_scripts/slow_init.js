// The init context spins for __ENV.INIT_MS (default 4000) ms, so `k6 inspect` takes that long:
// for stopping the module before k6 starts. Bounded; no network.
const end = Date.now() + Number(__ENV.INIT_MS || 4000);
let x = 0;
while (Date.now() < end) { x += 1; }
export const options = { vus: 1, iterations: 1 };
export default function () {}
