// Allocates up to 200 x 8 MB; bounded so a broken limiter cannot take the machine.
export const options = { vus: 1, iterations: 1 };
export default function () {
  const keep = [];
  for (let i = 0; i < 200; i++) { keep.push(new Array(1e6).fill(i)); }
  console.log(keep.length);
}
