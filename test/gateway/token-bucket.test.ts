// The token bucket on an injected clock: full at the start, one token a request, refilled continuously at its rate up
// to its burst; a new rate keeps the tokens it holds; a clock that goes back changes nothing.
import { TokenBucket } from '../../gateway/token-bucket.js';

test('starts full, takes one token a request, and says how long until the next', () => {
  const bucket = new TokenBucket(4, 2, 0);
  expect(bucket.take(0)).toBe(0);
  expect(bucket.take(0)).toBe(0);
  expect(bucket.take(0)).toBe(0.25);
  expect(bucket.take(125)).toBeCloseTo(0.125);
  expect(bucket.take(250)).toBe(0);
});

test('refills continuously up to the burst, no further', () => {
  const bucket = new TokenBucket(10, 3, 0);
  for (let i = 0; i < 3; i++) bucket.take(0);
  expect(bucket.available(150)).toBeCloseTo(1.5);
  expect(bucket.available(3_600_000)).toBe(3);
});

test('a new rate and burst keep the tokens held, cut to the new burst', () => {
  const bucket = new TokenBucket(1, 5, 0);
  bucket.take(0);
  bucket.reconfigure(2, 10, 0);
  expect(bucket.available(0)).toBe(4);
  expect(bucket.available(1000)).toBe(6);
  bucket.reconfigure(2, 3, 1000);
  expect(bucket.available(1000)).toBe(3);
});

test('a clock that goes back refills nothing and takes nothing away', () => {
  const bucket = new TokenBucket(1, 1, 10_000);
  expect(bucket.take(10_000)).toBe(0);
  expect(bucket.available(5_000)).toBe(0);
  expect(bucket.available(10_500)).toBeCloseTo(0.5);
});
