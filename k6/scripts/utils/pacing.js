// Think time between iterations.

import { sleep } from 'k6';
import { THINK_TIME_MAX, THINK_TIME_MIN } from '../config.js';

/** A uniform random number in [min, max]. */
export const randomBetween = (min, max) => min + Math.random() * (max - min);

/** Pause like a user would between two journeys (K6_THINK_TIME, default up to 0.5 s). */
export function thinkTime(min = THINK_TIME_MIN, max = THINK_TIME_MAX) {
  if (max > 0) sleep(randomBetween(min, max));
}
