/** The first of `candidates` within `maxDistance` edits (Levenshtein) of `word`, for "did you mean …?" hints. */
export function closest(word: string, candidates: readonly string[], maxDistance = 2): string | undefined {
  return candidates.find((candidate) => editDistance(word, candidate) <= maxDistance);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
