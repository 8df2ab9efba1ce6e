// IAM wildcard patterns as sets of strings, and a decision procedure over boolean combinations of them.
//
// A pattern is a glob: `*` = any run of characters (it spans `/` and `:`), `?` = exactly one character, everything
// else literal; `${*}`, `${?}`, `${$}` are the literal characters and any other policy variable (`${aws:username}`)
// is widened to `*` and flagged (the caller treats such a pattern as undecidable). Source: IAM User Guide, "IAM JSON
// policy elements: Resource" and "IAM policy elements: Variables and tags".
//
// `findWitness` answers "is there a string satisfying this formula over patterns?" and returns the shortest one. Each
// pattern is an NFA over its positions; the search walks the product of their subset states (breadth-first, so the
// witness is the shortest) over an alphabet of the characters the patterns name plus one fresh character standing
// for every other one. Kleene three-valued evaluation (an atom is certainly false once its set is empty and certainly
// true once a trailing run of `*` is reached) prunes branches that can no longer satisfy the formula. The reachable
// state space is finite, so the search always ends; a state cap turns a pathological input into "undecided".

export const STAR = -1;
export const ONE = -2;

export interface Glob {
  /** The pattern as written. */
  source: string;
  /** Char codes, STAR and ONE. */
  tokens: number[];
  /** A policy variable other than `${*}`/`${?}`/`${$}` was widened to `*`. */
  hasVariable: boolean;
  /** allFrom[i]: tokens[i..] is a non-empty run of STAR (every continuation is accepted from position i). */
  allFrom: boolean[];
}

const VARIABLE = /\$\{([^}]*)\}/g;

/** Parses an IAM pattern. `lowerCase` for actions (matched case-insensitively); resources are case-sensitive. */
export function parseGlob(source: string, lowerCase = false): Glob {
  const text = lowerCase ? source.toLowerCase() : source;
  const tokens: number[] = [];
  let hasVariable = false;
  const plain = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      tokens.push(c === 42 ? STAR : c === 63 ? ONE : c);
    }
  };
  let last = 0;
  for (const m of text.matchAll(VARIABLE)) {
    plain(text.slice(last, m.index));
    const inner = (m[1] ?? "").trim();
    if (inner === "*" || inner === "?" || inner === "$") tokens.push(inner.charCodeAt(0));
    else {
      tokens.push(STAR);
      hasVariable = true;
    }
    last = m.index + m[0].length;
  }
  plain(text.slice(last));
  return { source, tokens, hasVariable, allFrom: allFromOf(tokens) };
}

/** A glob matching exactly `text` (no wildcards): e.g. the literal resource `*` of actions without resource types. */
export function literalGlob(text: string): Glob {
  const tokens = [...text].map((c) => c.charCodeAt(0));
  return { source: text, tokens, hasVariable: false, allFrom: allFromOf(tokens) };
}

function allFromOf(tokens: number[]): boolean[] {
  const out = new Array<boolean>(tokens.length + 1).fill(false);
  let stars = true;
  for (let i = tokens.length - 1; i >= 0; i--) {
    stars &&= tokens[i] === STAR;
    out[i] = stars;
  }
  return out;
}

/** Does `g` match `text` (whole string)? */
export function globMatches(g: Glob, text: string): boolean {
  let set = closure(g, [0]);
  for (let i = 0; i < text.length && set.length > 0; i++) set = step(g, set, text.charCodeAt(i));
  return set.includes(g.tokens.length);
}

function closure(g: Glob, set: number[]): number[] {
  const out: number[] = [];
  for (const start of set) {
    let i = start;
    while (true) {
      if (!out.includes(i)) out.push(i);
      if (g.tokens[i] !== STAR) break;
      i++;
    }
  }
  return out.sort((a, b) => a - b);
}

function step(g: Glob, set: number[], c: number): number[] {
  const next: number[] = [];
  for (const i of set) {
    const t = g.tokens[i];
    if (t === undefined) continue;
    if (t === STAR) next.push(i);
    else if (t === ONE || t === c) next.push(i + 1);
  }
  return next.length === 0 ? next : closure(g, next);
}

// ---------------------------------------------------------------------------------------------------------
// Formulas

/** A boolean combination of "the string matches pattern `atom`". */
export type Formula = { atom: number } | { and: Formula[] } | { or: Formula[] } | { not: Formula } | { const: boolean };

export const TRUE: Formula = { const: true };
export const FALSE: Formula = { const: false };
export const and = (...fs: Formula[]): Formula => ({ and: fs });
export const or = (...fs: Formula[]): Formula => ({ or: fs });
export const not = (f: Formula): Formula => ({ not: f });

type Tri = 0 | 1 | 2; // 0 false, 1 true, 2 undecided

function evalTri(f: Formula, atoms: Tri[]): Tri {
  if ("atom" in f) return atoms[f.atom] ?? 0;
  if ("const" in f) return f.const ? 1 : 0;
  if ("not" in f) {
    const v = evalTri(f.not, atoms);
    return v === 2 ? 2 : v === 1 ? 0 : 1;
  }
  const isAnd = "and" in f;
  const list = isAnd ? f.and : f.or;
  let result: Tri = isAnd ? 1 : 0;
  for (const x of list) {
    const v = evalTri(x, atoms);
    if (isAnd ? v === 0 : v === 1) return v;
    if (v === 2) result = 2;
  }
  return result;
}

/** Fresh characters for "any other character", most readable first. */
const FRESH = "xyzqkjw0123456789XYZQ_~";

export type WitnessResult = { found: string } | { none: true } | { undecided: string };

/** Above this many product states the answer is "undecided" (never observed on real policies: tens to hundreds). */
export const MAX_STATES = 50_000;

/**
 * The shortest string satisfying `f` over `globs` (atoms index into `globs`), `none` when no string does, or
 * `undecided` past MAX_STATES. When a witness can be extended by one fresh character and still satisfy `f`, the
 * extended one is returned (`…/prod/x` reads better than `…/prod/`).
 */
export function findWitness(globs: Glob[], f: Formula): WitnessResult {
  const used = new Set<number>();
  for (const g of globs) for (const t of g.tokens) if (t >= 0) used.add(t);
  let fresh = -1;
  for (const ch of FRESH)
    if (!used.has(ch.charCodeAt(0))) {
      fresh = ch.charCodeAt(0);
      break;
    }
  for (let c = 0x4e00; fresh < 0; c++) if (!used.has(c)) fresh = c;
  // From a state, only the characters some pattern can consume literally behave differently from `fresh`.
  const alphabetAt = (sets: number[][]) => {
    const chars = new Set<number>();
    sets.forEach((set, i) => {
      const tokens = (globs[i] as Glob).tokens;
      for (const p of set) {
        const t = tokens[p];
        if (t !== undefined && t >= 0) chars.add(t);
      }
    });
    return [fresh, ...[...chars].sort((a, b) => a - b)];
  };

  const status = (sets: number[][], now: boolean): Tri[] =>
    sets.map((s, i) => {
      const g = globs[i] as Glob;
      if (s.length === 0) return 0;
      if (s.some((p) => g.allFrom[p])) return 1;
      if (now) return s.includes(g.tokens.length) ? 1 : 0;
      return 2;
    });
  const accepts = (sets: number[][]) => evalTri(f, status(sets, true)) === 1;
  const stepAll = (sets: number[][], c: number) => sets.map((s, i) => step(globs[i] as Glob, s, c));

  const start = globs.map((g) => closure(g, [0]));
  const queue: { sets: number[][]; text: string }[] = [{ sets: start, text: "" }];
  const seen = new Set<string>([key(start)]);
  for (let head = 0; head < queue.length; head++) {
    const { sets, text } = queue[head]!;
    if (evalTri(f, status(sets, false)) === 0) continue;
    if (accepts(sets)) {
      const longer = stepAll(sets, fresh);
      return { found: accepts(longer) ? text + String.fromCharCode(fresh) : text };
    }
    for (const c of alphabetAt(sets)) {
      const next = stepAll(sets, c);
      const k = key(next);
      if (seen.has(k)) continue;
      if (seen.size >= MAX_STATES) return { undecided: `more than ${MAX_STATES} states` };
      seen.add(k);
      queue.push({ sets: next, text: text + String.fromCharCode(c) });
    }
  }
  return { none: true };
}

function key(sets: number[][]): string {
  return sets.map((s) => s.join(",")).join("|");
}

/** Is every string of `inner` also in `outer`? (`undecided` counts as not proven.) */
export function globSubset(inner: Glob, outer: Glob): boolean {
  const r = findWitness([inner, outer], and({ atom: 0 }, not({ atom: 1 })));
  return "none" in r;
}

/** Do the two patterns share a string? */
export function globsIntersect(a: Glob, b: Glob): boolean {
  return "found" in findWitness([a, b], and({ atom: 0 }, { atom: 1 }));
}

/** One RegExp matching any of `sources` (whole string), for fast membership tests over many names. */
export function globsRegExp(sources: readonly string[], flags = ""): RegExp {
  const alt = sources.map((s) =>
    [...parseGlob(s).tokens]
      .map((t) =>
        t === STAR ? ".*" : t === ONE ? "." : String.fromCharCode(t).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"),
      )
      .join(""),
  );
  return new RegExp(`^(?:${alt.join("|") || "(?!)"})$`, `s${flags}`);
}
