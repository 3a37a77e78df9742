/**
 * Path conditions of policy rules (`when: { paths: [...] }`): lexical normalisation of the
 * paths adapters report, and a small glob matcher for absolute paths.
 *
 * Pattern syntax: `*` matches any run of characters within one path segment (never `/`), `?`
 * one character (never `/`), and `**` as a whole segment any number of segments, none included
 * (`/srv/app/**` matches `/srv/app`, `/srv/app/a` and `/srv/app/a/b`, not `/srv/apple`). `**`
 * inside a segment (`/var/log/**.gz`) is a plain `*`. Everything else matches itself
 * (case-sensitive). Matching is on the normalised text: symlinks at the target are not followed.
 */

/** Tests a normalised absolute path against one pattern. */
export type PathMatcher = (path: string) => boolean;

/**
 * Normalises a path lexically: absolute, `.` and `..` resolved (`..` at the root stays there),
 * repeated and trailing slashes removed. A relative path is resolved against `cwd` when given;
 * without it (or with a NUL byte in the path) the path cannot be normalised: `undefined`.
 */
export function normalisePath(path: string, cwd?: string): string | undefined {
  if (path.includes('\0')) return undefined;
  let full = path;
  if (!path.startsWith('/')) {
    if (cwd === undefined || !cwd.startsWith('/') || cwd.includes('\0')) return undefined;
    full = `${cwd}/${path}`;
  }
  const out: string[] = [];
  for (const seg of full.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** Why a path pattern is refused (`undefined`: usable). Patterns are absolute and normalised. */
export function pathPatternProblem(pattern: string): string | undefined {
  if (!pattern.startsWith('/')) return "must be an absolute path pattern (starting with '/')";
  if (pattern.includes('\0')) return 'must not contain a NUL character';
  if (pattern === '/') return undefined;
  if (pattern.endsWith('/')) return "must not end with '/'";
  const segs = pattern.slice(1).split('/');
  if (segs.some((s) => s === '')) return "must not contain '//'";
  if (segs.some((s) => s === '.' || s === '..')) return "must not contain '.' or '..' segments";
  return undefined;
}

type Segment = { readonly globstar: true } | { readonly globstar: false; readonly chars: readonly string[] };

/** Compiles one pattern (checked with `pathPatternProblem`). */
export function compilePathPattern(pattern: string): PathMatcher {
  const segments: Segment[] = splitPath(pattern).map((s) =>
    s === '**' ? { globstar: true } : { globstar: false, chars: Array.from(s.replace(/\*{2,}/g, '*')) },
  );
  return (path) => {
    const normal = normalisePath(path);
    return normal !== undefined && matchSegments(segments, splitPath(normal));
  };
}

function splitPath(p: string): string[] {
  return p === '/' ? [] : p.slice(1).split('/');
}

/** A path segment matches a pattern segment: `*` any run of characters, `?` one character. */
function matchSegment(pattern: readonly string[], segment: string): boolean {
  return wildcard(
    pattern,
    Array.from(segment),
    (c) => c === '*',
    (c, ch) => c === '?' || c === ch,
  );
}

function matchSegments(pattern: readonly Segment[], path: readonly string[]): boolean {
  return wildcard(
    pattern,
    path,
    (tok) => tok.globstar,
    (tok, seg) => !tok.globstar && matchSegment(tok.chars, seg),
  );
}

/**
 * Wildcard matching, used twice: over a path's segments (`**` the star) and within a segment
 * (`*` the star). Greedy, retrying from the last star with one more item consumed on a mismatch
 * (every other token consumes exactly one item, so one retry point suffices).
 * O(pattern × text) comparisons.
 */
function wildcard<P, T>(
  pattern: readonly P[],
  text: readonly T[],
  isStar: (p: P) => boolean,
  matchesOne: (p: P, t: T) => boolean,
): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const tok = pattern[p];
    if (p < pattern.length && isStar(tok as P)) {
      starP = p++;
      starT = t;
    } else if (p < pattern.length && matchesOne(tok as P, text[t] as T)) {
      p++;
      t++;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else return false;
  }
  while (p < pattern.length && isStar(pattern[p] as P)) p++;
  return p === pattern.length;
}
