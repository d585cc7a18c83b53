// Counts in what local mode prints: `1 replica`, `2 replicas`.

/** `n` and the word, singular for exactly one. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
