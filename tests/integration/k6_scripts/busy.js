// Spins one VU for __ENV.SPIN_MS (default 4000) milliseconds: pure CPU, no network.
export const options = { vus: 1, iterations: 1 };
export default function () {
  const end = Date.now() + Number(__ENV.SPIN_MS || 4000);
  let x = 0;
  while (Date.now() < end) { x += Math.sqrt(x + 1); }
}
