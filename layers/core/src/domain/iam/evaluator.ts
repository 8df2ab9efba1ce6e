// A focused evaluator of identity policies + permission boundary (no resource policies, no SCPs, no
// session policies). It never answers "allow" when it cannot prove it: what it cannot decide is "unknown".
//
// Rules (after AWS's documented policy evaluation logic):
//  R1  Default is implicit deny.
//  R2  A statement applies when its Action (or NotAction) matches, its Resource (or NotResource) matches and
//      every condition holds. NotAction/NotResource apply to everything NOT listed.
//  R3  Actions match case-insensitively; `*` = any run of characters, `?` = one character ("ssm:Get*").
//  R4  Resources match case-sensitively over the whole ARN; `*` may span `/` and `:`; `?` = one character.
//      `${*}`, `${?}`, `${$}` are the literal characters. Any other policy variable (`${aws:username}`) is
//      not substituted: a pattern that could match once substituted makes the statement undecided.
//  R5  An applicable Deny anywhere (identity or boundary) wins: "explicit-deny".
//  R6  Without a boundary an applicable identity Allow gives "allow". With a boundary, both an identity
//      Allow and a boundary Allow must apply (intersection); otherwise implicit deny.
//  R7  Conditions: operators in a block are ANDed, keys within an operator ANDed, values of a key ORed
//      (negated operators: the key must match none of the values). Implemented: String(Not)Equals,
//      String(Not)EqualsIgnoreCase, String(Not)Like, Arn(Not)Equals, Arn(Not)Like (per ARN segment),
//      Bool, Null, each with the IfExists suffix and ForAnyValue:/ForAllValues: qualifiers. Any other
//      operator, or a key missing from `req.context`, makes the condition undecided — unless the request
//      says `contextComplete`, in which case a missing key is really absent and AWS's rules apply
//      (IfExists → true, negated operator → true, ForAllValues → true, ForAnyValue → false, other → false).
//  R8  An undecided statement: an undecided Allow can only lead to "unknown", never to a silent allow; an
//      undecided Deny turns a would-be allow into "unknown". When no Allow could apply at all the answer is
//      "implicit-deny" (the request is refused whichever way the undecided Deny falls); when another Deny
//      applies the answer is "explicit-deny".
//  Patterns are compiled once per statement object (WeakMap cache); no RegExp is built per evaluation.
import type { NamedPolicy, PolicySource } from "../../ports/index.ts";
import { asArray, type PolicyStatement, statements } from "./policy.ts";

export type Decision = "allow" | "explicit-deny" | "implicit-deny" | "unknown";

export interface StatementRef {
  /** Policy name (inline name or managed policy name). */
  policy: string;
  policyArn?: string;
  source: PolicySource;
  sid?: string;
  /** Position of the statement in its policy (0-based). */
  index: number;
}

export interface AccessRequest {
  action: string;
  resource: string;
  /** Known request-context values (e.g. `aws:SourceVpc`); keys are matched case-insensitively. */
  context?: Record<string, string | string[]>;
  /** `true`: a key missing from `context` is absent from the request (not merely unknown). */
  contextComplete?: boolean;
}

export interface Evaluation {
  decision: Decision;
  /** Allow statements that apply (identity and boundary). */
  allowedBy: StatementRef[];
  /** Deny statements that apply. */
  deniedBy: StatementRef[];
  /** Statements (either effect) whose applicability could not be decided. */
  undecided: StatementRef[];
}

/** Tri-state: true, false, or undefined = cannot decide. */
type Tri = boolean | undefined;

function triNot(v: Tri): Tri {
  return v === undefined ? undefined : !v;
}

// ---------------------------------------------------------------------------------------------------------
// Pattern compilation

const VARIABLE = /\$\{([^}]*)\}/g;
const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/g;

function escapeRe(s: string): string {
  return s.replace(REGEX_SPECIAL, "\\$&");
}

/** Glob → regex source. `star`/`one` give the classes for `*`/`?`; policy variables become `.*` (superset). */
function globSource(pattern: string, star: string, one: string): { source: string; hasVariable: boolean } {
  let source = "";
  let hasVariable = false;
  let last = 0;
  const plain = (text: string) => {
    for (const ch of text) source += ch === "*" ? star : ch === "?" ? one : escapeRe(ch);
  };
  for (const m of pattern.matchAll(VARIABLE)) {
    plain(pattern.slice(last, m.index));
    const inner = (m[1] ?? "").trim();
    if (inner === "*" || inner === "?" || inner === "$") source += escapeRe(inner);
    else {
      source += ".*";
      hasVariable = true;
    }
    last = m.index + m[0].length;
  }
  plain(pattern.slice(last));
  return { source, hasVariable };
}

/** Three-way matcher over a list of patterns: definite match, possible match (variables), no match. */
interface PatternSet {
  any: boolean; // a bare "*" is present
  exact?: RegExp; // patterns without variables
  superset?: RegExp; // patterns with variables, each variable widened to `.*`
}

function compilePatterns(patterns: string[], flags: string): PatternSet {
  const exact: string[] = [];
  const superset: string[] = [];
  let any = false;
  for (const p of patterns) {
    if (p === "*") {
      any = true;
      continue;
    }
    const g = globSource(p, ".*", ".");
    (g.hasVariable ? superset : exact).push(g.source);
  }
  const build = (list: string[]) => (list.length ? new RegExp(`^(?:${list.join("|")})$`, `s${flags}`) : undefined);
  return { any, exact: build(exact), superset: build(superset) };
}

function matchSet(set: PatternSet, value: string): Tri {
  if (set.any || set.exact?.test(value)) return true;
  if (set.superset?.test(value)) return undefined;
  return false;
}

/** ArnLike/ArnEquals: each of the six colon-separated segments is matched separately. */
function arnConditionRegex(pattern: string): { re: RegExp; hasVariable: boolean } | undefined {
  const parts: string[] = [];
  let rest = pattern;
  for (let i = 0; i < 5; i++) {
    const at = rest.indexOf(":");
    if (at < 0) return undefined;
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  parts.push(rest);
  let hasVariable = false;
  const sources = parts.map((p, i) => {
    const g = i < 5 ? globSource(p, "[^:]*", "[^:]") : globSource(p, ".*", ".");
    hasVariable ||= g.hasVariable;
    return g.source;
  });
  return { re: new RegExp(`^${sources.join(":")}$`, "s"), hasVariable };
}

// ---------------------------------------------------------------------------------------------------------
// Conditions

type BaseOp = "eq" | "eqi" | "like" | "arn" | "bool" | "null";

/** One condition value, precompiled. `undefined` result = value holds a policy variable we cannot resolve. */
type ValueMatcher = (v: string) => Tri;

interface CompiledCondition {
  key: string; // lower-cased
  supported: boolean;
  base?: BaseOp;
  negated: boolean;
  ifExists: boolean;
  qualifier: "none" | "any" | "all";
  values: ValueMatcher[];
  nullValues: string[];
}

const OPERATORS: Record<string, { base: BaseOp; negated: boolean }> = {
  stringequals: { base: "eq", negated: false },
  stringnotequals: { base: "eq", negated: true },
  stringequalsignorecase: { base: "eqi", negated: false },
  stringnotequalsignorecase: { base: "eqi", negated: true },
  stringlike: { base: "like", negated: false },
  stringnotlike: { base: "like", negated: true },
  arnequals: { base: "arn", negated: false },
  arnlike: { base: "arn", negated: false },
  arnnotequals: { base: "arn", negated: true },
  arnnotlike: { base: "arn", negated: true },
  bool: { base: "bool", negated: false },
  null: { base: "null", negated: false },
};

function hasVariable(s: string): boolean {
  for (const m of s.matchAll(VARIABLE)) {
    const inner = (m[1] ?? "").trim();
    if (inner !== "*" && inner !== "?" && inner !== "$") return true;
  }
  return false;
}

function compileValue(base: BaseOp, raw: string): ValueMatcher {
  switch (base) {
    case "eq":
    case "eqi": {
      if (hasVariable(raw)) return () => undefined;
      if (base === "eq") return (v) => v === raw;
      const lower = raw.toLowerCase();
      return (v) => v.toLowerCase() === lower;
    }
    case "bool": {
      const lower = raw.toLowerCase();
      return (v) => v.toLowerCase() === lower;
    }
    case "like": {
      const g = globSource(raw, ".*", ".");
      const re = new RegExp(`^${g.source}$`, "s");
      return g.hasVariable ? (v) => (re.test(v) ? undefined : false) : (v) => re.test(v);
    }
    case "arn": {
      const c = arnConditionRegex(raw);
      if (!c) return () => false;
      return c.hasVariable ? (v) => (c.re.test(v) ? undefined : false) : (v) => c.re.test(v);
    }
    case "null":
      return () => undefined; // not used: Null is evaluated on presence
  }
}

function compileCondition(operator: string, key: string, raw: unknown): CompiledCondition {
  let op = operator.toLowerCase();
  let qualifier: CompiledCondition["qualifier"] = "none";
  if (op.startsWith("foranyvalue:")) {
    qualifier = "any";
    op = op.slice("foranyvalue:".length);
  } else if (op.startsWith("forallvalues:")) {
    qualifier = "all";
    op = op.slice("forallvalues:".length);
  }
  let ifExists = false;
  if (op.endsWith("ifexists")) {
    ifExists = true;
    op = op.slice(0, -"ifexists".length);
  }
  const known = OPERATORS[op];
  const rawValues = (Array.isArray(raw) ? raw : [raw]).map((v) => String(v));
  if (!known)
    return {
      key: key.toLowerCase(),
      supported: false,
      negated: false,
      ifExists,
      qualifier,
      values: [],
      nullValues: [],
    };
  return {
    key: key.toLowerCase(),
    supported: true,
    base: known.base,
    negated: known.negated,
    ifExists,
    qualifier,
    values: known.base === "null" ? [] : rawValues.map((v) => compileValue(known.base, v)),
    nullValues: rawValues.map((v) => v.toLowerCase()),
  };
}

/** One context value against the condition's values: ORed for positive operators, NOR for negated ones. */
function matchOne(c: CompiledCondition, v: string): Tri {
  let result: Tri = false;
  for (const m of c.values) {
    const r = m(v);
    if (r === true) {
      result = true;
      break;
    }
    if (r === undefined) result = undefined;
  }
  return c.negated ? triNot(result) : result;
}

function evalCondition(c: CompiledCondition, ctx: ContextView): Tri {
  if (!c.supported) return undefined;
  const value = ctx.get(c.key);
  if (value === undefined) {
    if (!ctx.complete) return undefined;
    if (c.base === "null") return c.nullValues.includes("true");
    if (c.ifExists || c.qualifier === "all") return true;
    if (c.qualifier === "any") return false;
    return c.negated;
  }
  const vals = Array.isArray(value) ? value : [value];
  if (c.base === "null") return c.nullValues.includes("false");
  if (c.qualifier === "none") {
    // A single-valued operator over a multi-valued key has no single documented reading: undecided.
    if (vals.length !== 1) return undefined;
    return matchOne(c, vals[0] as string);
  }
  if (c.qualifier === "any") {
    let r: Tri = false;
    for (const v of vals) {
      const m = matchOne(c, v);
      if (m === true) return true;
      if (m === undefined) r = undefined;
    }
    return r;
  }
  let r: Tri = true;
  for (const v of vals) {
    const m = matchOne(c, v);
    if (m === false) return false;
    if (m === undefined) r = undefined;
  }
  return r;
}

interface ContextView {
  complete: boolean;
  get(lowerKey: string): string | string[] | undefined;
}

function contextView(req: AccessRequest): ContextView {
  let lowered: Map<string, string | string[]> | undefined;
  return {
    complete: req.contextComplete === true,
    get(lowerKey) {
      if (!req.context) return undefined;
      if (!lowered) {
        lowered = new Map();
        for (const [k, v] of Object.entries(req.context)) lowered.set(k.toLowerCase(), v);
      }
      return lowered.get(lowerKey);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Statements

interface CompiledStatement {
  deny: boolean;
  actions: PatternSet;
  notAction: boolean;
  resources: PatternSet;
  notResource: boolean;
  conditions: CompiledCondition[];
}

const compiled = new WeakMap<PolicyStatement, CompiledStatement>();

/** Compiles (once per statement object) the patterns and conditions of a statement. */
export function compileStatement(s: PolicyStatement): CompiledStatement {
  const hit = compiled.get(s);
  if (hit) return hit;
  const notAction = s.Action === undefined && s.NotAction !== undefined;
  const notResource = s.Resource === undefined && s.NotResource !== undefined;
  const conditions: CompiledCondition[] = [];
  for (const [op, block] of Object.entries(s.Condition ?? {})) {
    for (const [key, raw] of Object.entries(block ?? {})) conditions.push(compileCondition(op, key, raw));
  }
  const c: CompiledStatement = {
    deny: s.Effect === "Deny",
    actions: compilePatterns(asArray(notAction ? s.NotAction : s.Action), "i"),
    notAction,
    resources: compilePatterns(asArray(notResource ? s.NotResource : s.Resource), ""),
    notResource,
    conditions,
  };
  compiled.set(s, c);
  return c;
}

/** Does the statement apply to the request? (R2–R4, R7) */
function applies(c: CompiledStatement, req: AccessRequest, ctx: ContextView): Tri {
  const a = matchSet(c.actions, req.action) as boolean; // action patterns never carry variables
  if (a === c.notAction) return false;
  let r = matchSet(c.resources, req.resource);
  if (c.notResource) r = triNot(r);
  if (r === false) return false;
  let cond: Tri = true;
  for (const k of c.conditions) {
    const v = evalCondition(k, ctx);
    if (v === false) return false;
    if (v === undefined) cond = undefined;
  }
  return r === undefined || cond === undefined ? undefined : true;
}

interface Tally {
  allow: boolean;
  allowUndecided: boolean;
}

function scan(
  req: AccessRequest,
  ctx: ContextView,
  policy: NamedPolicy,
  out: Evaluation,
  tally: Tally,
  denyState: { deny: boolean; undecided: boolean },
): void {
  const list = statements(policy.document);
  for (let i = 0; i < list.length; i++) {
    const s = list[i] as PolicyStatement;
    const c = compileStatement(s);
    const r = applies(c, req, ctx);
    if (r === false) continue;
    const ref: StatementRef = { policy: policy.name, source: policy.source, index: i };
    if (policy.arn !== undefined) ref.policyArn = policy.arn;
    if (s.Sid !== undefined && s.Sid !== "") ref.sid = s.Sid;
    if (r === undefined) {
      out.undecided.push(ref);
      if (c.deny) denyState.undecided = true;
      else tally.allowUndecided = true;
    } else if (c.deny) {
      out.deniedBy.push(ref);
      denyState.deny = true;
    } else {
      out.allowedBy.push(ref);
      tally.allow = true;
    }
  }
}

/** Evaluates one request against identity policies and an optional permission boundary (R1–R8). */
export function evaluate(req: AccessRequest, identity: NamedPolicy[], boundary?: NamedPolicy): Evaluation {
  const out: Evaluation = { decision: "implicit-deny", allowedBy: [], deniedBy: [], undecided: [] };
  const ctx = contextView(req);
  const denies = { deny: false, undecided: false };
  const id: Tally = { allow: false, allowUndecided: false };
  for (const p of identity) scan(req, ctx, p, out, id, denies);
  const bd: Tally = { allow: true, allowUndecided: false };
  if (boundary) {
    bd.allow = false;
    scan(req, ctx, boundary, out, bd, denies);
  }
  if (denies.deny) out.decision = "explicit-deny";
  else if ((!id.allow && !id.allowUndecided) || (!bd.allow && !bd.allowUndecided)) out.decision = "implicit-deny";
  else if (id.allow && bd.allow && !denies.undecided) out.decision = "allow";
  else out.decision = "unknown";
  return out;
}

/** Short human label of a statement: `policy "name" (arn) statement Sid` / `statement #2`. */
export function describeStatement(ref: StatementRef): string {
  const arn = ref.policyArn ? ` (${ref.policyArn})` : "";
  const st = ref.sid ? `statement "${ref.sid}"` : `statement #${ref.index}`;
  const kind = ref.source === "boundary" ? "permission boundary" : `${ref.source} policy`;
  return `${kind} "${ref.policy}"${arn} ${st}`;
}
