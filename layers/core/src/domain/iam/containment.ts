// Containment: is everything a role can effectively do inside its envelope? Proven over the whole policy, not sampled.
//
// Rules (AWS "Policy evaluation logic"; seeds as in envelope.ts):
//  C1  Effective permission of the role for action A = (union of identity Allow resources for A) ∩ (union of
//      permission-boundary Allow resources for A, when there is a boundary) − (union of Deny resources for A, identity
//      and boundary). NotAction / NotResource apply to everything not listed.
//  C2  Actions: each identity Allow's Action/NotAction is expanded against the catalog (catalog.ts) of the services an
//      envelope names plus the escalation services. An action of any other service is outside by construction
//      (`other-service`); a literal one (`dynamodb:GetItem`) is compared to the envelope's patterns as a set.
//  C3  Resources: the resources an action can be authorised against are its resource types' ARN formats (or the
//      literal `*` for actions without one), first with the host's own partition/region/account (readable witnesses),
//      then any. Patterns compare as sets of strings (glob.ts): `*` spans `/` and `:`, `?` is one character.
//  C4  Per identity Allow statement: a string in (its resources ∩ boundary − deny − envelope) is a witness of excess:
//      `iam-excess-grant`, naming the policy and statement (Sid, else index) and a risk class (RISK_LABEL).
//  C5  Undecidable (a Condition, a policy variable): an Allow that would reach beyond the envelope is `iam-unknown`
//      naming it, never ok. A conditional boundary Allow or Deny matters only where containment depends on it: excess
//      with the conditional boundary Allows ignored and the conditional Denies applied is a violation; excess only
//      the other way round is unknown.
//  C6  Verdict: any excess → violation; else any unknown → unknown; else ok. One finding per (statement, risk).
import type { NamedPolicy, RolePolicies } from "../../ports/index.ts";
import {
  type AccessLevel,
  type CatalogAction,
  catalogActions,
  catalogHasService,
  resourceUniverse,
} from "./catalog.ts";
import type { Envelope } from "./envelope.ts";
import { describeStatement, type StatementRef } from "./evaluator.ts";
import {
  and,
  FALSE,
  type Formula,
  findWitness,
  type Glob,
  globMatches,
  globSubset,
  globsIntersect,
  globsRegExp,
  literalGlob,
  not,
  or,
  parseGlob,
  TRUE,
} from "./glob.ts";
import { asArray, type PolicyStatement, statements } from "./policy.ts";

export type RiskClass =
  | "escalation"
  | "read-beyond-scope"
  | "write-own-scope"
  | "write-beyond-scope"
  | "decrypt-beyond-scope"
  | "sibling-prefix"
  | "other-service";

export const RISK_LABEL: Record<RiskClass, string> = {
  escalation: "privilege escalation",
  "read-beyond-scope": "read beyond its scope",
  "write-own-scope": "write on its own scope",
  "write-beyond-scope": "write beyond its scope",
  "decrypt-beyond-scope": "decrypt beyond its scope",
  "sibling-prefix": "sibling prefix (a name that only starts like its own)",
  "other-service": "an action of a service no envelope names",
};

/** Whole services whose actions let a host act as someone else or change the platform (seed: least privilege). */
const ESCALATION_SERVICES = new Set(["iam", "sts", "ec2", "lambda", "cloudformation", "ecs", "organizations"]);
/** Escalation actions of otherwise-enveloped services: run code elsewhere, or rewrite who may do what. */
const ESCALATION_ACTIONS = new Set(
  [
    "ssm:SendCommand",
    "ssm:StartSession",
    "ssm:ResumeSession",
    "ssm:StartAutomationExecution",
    "ssm:StartChangeRequestExecution",
    "ssm:CreateAssociation",
    "ssm:CreateAssociationBatch",
    "ssm:UpdateAssociation",
    "ssm:CreateDocument",
    "ssm:UpdateDocument",
    "ssm:UpdateDocumentDefaultVersion",
    "ssm:RegisterTaskWithMaintenanceWindow",
    "ssm:UpdateMaintenanceWindowTask",
    "ssm:PutResourcePolicy",
    "secretsmanager:PutResourcePolicy",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "s3:PutBucketPolicy",
    "ecr:SetRepositoryPolicy",
  ].map((a) => a.toLowerCase()),
);
const DECRYPT_ACTIONS = new Set(["kms:decrypt", "kms:reencryptfrom", "kms:reencryptto"]);

export interface ContainmentFinding {
  kind: "iam-excess-grant" | "iam-unknown";
  risk: RiskClass;
  statement: StatementRef;
  /** One concrete request outside the envelope that the statement lets through. */
  witness: { action: string; resource: string };
  /** iam-unknown: the statement(s) whose condition or variable decides it. */
  undecidedBy?: StatementRef[];
  detail: string;
}

export interface ContainmentResult {
  verdict: "ok" | "violation" | "unknown";
  findings: ContainmentFinding[];
}

// ---------------------------------------------------------------------------------------------------------
// Compiled statements

interface Stmt {
  ref: StatementRef;
  deny: boolean;
  actionPatterns: string[];
  actionGlobs: Glob[];
  actionRe: RegExp;
  notAction: boolean;
  resources: Glob[];
  notResource: boolean;
  /** Why the statement's applicability cannot be decided without a request (undefined = decidable). */
  undecided?: string;
}

const compiled = new WeakMap<PolicyStatement, Omit<Stmt, "ref">>();

function compile(s: PolicyStatement): Omit<Stmt, "ref"> {
  const hit = compiled.get(s);
  if (hit) return hit;
  const notAction = s.Action === undefined;
  const notResource = s.Resource === undefined;
  const actionPatterns = asArray(notAction ? s.NotAction : s.Action);
  const resources = asArray(notResource ? s.NotResource : s.Resource).map((r) => parseGlob(r));
  const keys = Object.entries(s.Condition ?? {}).flatMap(([op, block]) =>
    Object.keys(block ?? {}).map((k) => `${op} ${k}`),
  );
  const undecided = keys.length
    ? `condition ${keys.join(", ")}`
    : resources.some((r) => r.hasVariable)
      ? "a policy variable in its resources"
      : undefined;
  const c = {
    deny: s.Effect === "Deny",
    actionPatterns,
    actionGlobs: actionPatterns.map((a) => parseGlob(a, true)),
    actionRe: globsRegExp(actionPatterns, "i"),
    notAction,
    resources,
    notResource,
    ...(undecided ? { undecided } : {}),
  };
  compiled.set(s, c);
  return c;
}

function stmtsOf(policy: NamedPolicy): Stmt[] {
  return statements(policy.document).map((s, index) => {
    const ref: StatementRef = { policy: policy.name, source: policy.source, index };
    if (policy.arn !== undefined) ref.policyArn = policy.arn;
    if (s.Sid) ref.sid = s.Sid;
    return { ref, ...compile(s) };
  });
}

const envelopeCache = new WeakMap<Envelope, Stmt[]>();

function envelopeStmts(e: Envelope): Stmt[] {
  let hit = envelopeCache.get(e);
  if (!hit) {
    hit = e.grants.map((g, index) => ({
      ref: { policy: `envelope of ${e.subject}`, source: "inline", index, sid: g.why },
      ...compile({ Effect: "Allow", Action: g.actions, Resource: g.resources }),
    }));
    envelopeCache.set(e, hit);
  }
  return hit;
}

// ---------------------------------------------------------------------------------------------------------
// Candidate actions

/** An action the check reasons about: a catalog action, or an opaque action pattern of a service outside it. */
interface Candidate {
  /** What a finding shows as the witness action. */
  name: string;
  catalog?: CatalogAction;
  /** Opaque: the set of action names it stands for (lower-case glob). */
  glob?: Glob;
}

/** Stands for every action of a service that neither the catalog nor any literal pattern names. */
const OTHER_SERVICE: Candidate = { name: "<a service outside the catalog>:*", glob: literalGlob("\u0001:\u0001") };

const literalService = (pattern: string) => {
  const svc = pattern.split(":")[0] ?? "";
  return /[*?]/.test(svc) ? undefined : svc.toLowerCase();
};

/** Witness actions an operator recognises at once come first (a `*` statement is reported through iam:PassRole). */
const PRIORITY = [
  "iam:PassRole",
  "sts:AssumeRole",
  "ssm:SendCommand",
  "ssm:StartSession",
  "secretsmanager:GetSecretValue",
  "ssm:GetParameter",
  "ssm:GetParametersByPath",
  "kms:Decrypt",
  "ssm:PutParameter",
  "secretsmanager:PutSecretValue",
  "s3:GetObject",
].map((a) => a.toLowerCase());

/**
 * Witnesses for the escalation services left out of the catalog (scripts/gen-iam-catalog.ts): actions that run code or
 * attach a role elsewhere (IAM privilege-escalation paths).
 */
const ESCALATION_WITNESSES = [
  "ec2:RunInstances",
  "ec2:AssociateIamInstanceProfile",
  "ec2:ModifyInstanceAttribute",
  "lambda:CreateFunction",
  "lambda:UpdateFunctionCode",
  "lambda:InvokeFunction",
  "cloudformation:CreateStack",
  "cloudformation:UpdateStack",
  "ecs:RunTask",
  "ecs:RegisterTaskDefinition",
  "organizations:LeaveOrganization",
];

const rank = (c: Candidate) => {
  const i = c.catalog ? PRIORITY.indexOf(c.catalog.lower) : -1;
  return i < 0 ? PRIORITY.length : i;
};

function candidatesOf(s: Stmt): Candidate[] {
  return unordered(s).sort((a, b) => rank(a) - rank(b));
}

function unordered(s: Stmt): Candidate[] {
  const out: Candidate[] = [];
  if (s.notAction) {
    for (const a of catalogActions()) if (!s.actionRe.test(a.lower)) out.push({ name: a.name, catalog: a });
    if (applies(s, OTHER_SERVICE)) out.push(OTHER_SERVICE);
    return out;
  }
  const seen = new Set<string>();
  let wildService = false;
  for (const [i, p] of s.actionPatterns.entries()) {
    const svc = literalService(p);
    if (svc === undefined) wildService = true;
    else if (!catalogHasService(svc)) {
      // A service left out of the catalog: its well-known escalation actions first (a concrete witness), then the
      // pattern itself for whatever else it covers.
      for (const w of ESCALATION_WITNESSES) {
        const lower = w.toLowerCase();
        if (lower.startsWith(`${svc}:`) && s.actionRe.test(lower) && !seen.has(lower)) {
          seen.add(lower);
          out.push({ name: w, glob: literalGlob(lower) });
        }
      }
      out.push({ name: p, glob: s.actionGlobs[i] as Glob });
    }
  }
  const pool = wildService ? catalogActions() : s.actionPatterns.flatMap((p) => catalogActions(literalService(p)));
  for (const a of pool)
    if (!seen.has(a.lower) && s.actionRe.test(a.lower)) {
      seen.add(a.lower);
      out.push({ name: a.name, catalog: a });
    }
  if (wildService) out.push(OTHER_SERVICE);
  return out;
}

const coverCache = new Map<string, boolean>();

/** Does statement `s` apply to every action `c` stands for? (Opaque: set containment, conservatively.) */
function applies(s: Stmt, c: Candidate): boolean {
  if (c.catalog) return s.actionRe.test(c.catalog.lower) !== s.notAction;
  const g = c.glob as Glob;
  const k = `${g.source}\u0000${s.notAction}\u0000${s.actionPatterns.join("\u0000")}`;
  let hit = coverCache.get(k);
  if (hit === undefined) {
    hit = s.notAction
      ? s.actionGlobs.every((p) => !(g === OTHER_SERVICE.glob ? globMatches(p, "\u0001:\u0001") : globsIntersect(g, p)))
      : s.actionGlobs.some((p) => (g === OTHER_SERVICE.glob ? globMatches(p, "\u0001:\u0001") : globSubset(g, p)));
    if (coverCache.size >= 10_000) coverCache.clear(); // a warm Lambda sees many policies: stay bounded
    coverCache.set(k, hit);
  }
  return hit;
}

// ---------------------------------------------------------------------------------------------------------
// Risk classes

function riskClassesOf(c: Candidate): RiskClass[] {
  const a = c.catalog;
  // Outside the catalog: an escalation service left out of it for the bundle's weight (ec2, lambda, cloudformation,
  // ecs, organizations) is escalation by service; any other is a service no envelope names.
  if (!a) return ESCALATION_SERVICES.has(literalService(c.name) ?? "") ? ["escalation"] : ["other-service"];
  if (ESCALATION_SERVICES.has(a.service) || ESCALATION_ACTIONS.has(a.lower)) return ["escalation"];
  if (DECRYPT_ACTIONS.has(a.lower)) return ["decrypt-beyond-scope"];
  return isWrite(a.level) ? ["write-own-scope", "write-beyond-scope"] : ["read-beyond-scope", "sibling-prefix"];
}

const isWrite = (l: AccessLevel) => l === "write" || l === "permissions" || l === "tagging";

function classify(c: Candidate, resource: string, own: OwnScope): RiskClass {
  const classes = riskClassesOf(c);
  if (classes.length === 1) return classes[0] as RiskClass;
  if (classes[0] === "write-own-scope")
    return own.scope.some((g) => globMatches(g, resource)) ? "write-own-scope" : "write-beyond-scope";
  const sibling = own.siblings.some(
    (x) => globMatches(x.like, resource) && !globMatches(x.own, resource) && !globMatches(x.itself, resource),
  );
  return sibling ? "sibling-prefix" : "read-beyond-scope";
}

interface OwnScope {
  /** The envelope's own resources (not `*`): where a write is "on its own scope". */
  scope: Glob[];
  /** For each own `…/NS/S/*`: a sibling starts like `…/NS/S` (`like`) but is neither it nor below it. */
  siblings: { like: Glob; own: Glob; itself: Glob }[];
}

const ownScopes = new WeakMap<Envelope, OwnScope>();

function ownScope(e: Envelope): OwnScope {
  let hit = ownScopes.get(e);
  if (!hit) {
    const own = e.grants.flatMap((g) => g.resources.filter((r) => r !== "*"));
    hit = {
      scope: own.map((r) => parseGlob(r)),
      siblings: own
        .filter((r) => r.endsWith("/*"))
        .map((r) => r.slice(0, -2))
        .map((base) => ({ like: parseGlob(`${base}*`), own: parseGlob(`${base}/*`), itself: parseGlob(base) })),
    };
    ownScopes.set(e, hit);
  }
  return hit;
}

// ---------------------------------------------------------------------------------------------------------
// The check

interface Context {
  identity: Stmt[];
  boundary?: Stmt[];
  denies: Stmt[];
  envelope: Stmt[];
  aws: Envelope["aws"];
}

type Search = { found: string } | { none: true } | { undecided: string };

/** Resources of statements as one formula, atoms interned into `globs`. */
function resourcesOf(list: Stmt[], globs: Glob[]): Formula {
  if (list.length === 0) return FALSE;
  return or(
    ...list.map((s) => {
      const atoms = or(...s.resources.map((g) => ({ atom: globs.push(g) - 1 })));
      return s.notResource ? not(atoms) : atoms;
    }),
  );
}

const ANY = parseGlob("*");

function byOwnServiceFirst(globs: Glob[], service: string): Glob[] {
  const own = (g: Glob) => g.source.split(":")[2] === service;
  return [...globs.filter(own), ...globs.filter((g) => !own(g))];
}

/** C1/C3: a resource that `s` grants for `c` within `bounds`, not denied and outside the envelope. */
function search(s: Stmt, c: Candidate, bounds: Stmt[] | undefined, denies: Stmt[], env: Stmt[], ctx: Context): Search {
  // Any partition/region/account decides; a witness found there is then looked for with the host's own values, one
  // resource type at a time (the action's own service first), so it reads like what an operator expects
  // (`ssm:SendCommand` on a document of this account, not on some bucket).
  const wide = attempt(c.catalog ? resourceUniverse(c.catalog) : [ANY]);
  if (!("found" in wide) || !c.catalog) return wide;
  for (const g of byOwnServiceFirst(resourceUniverse(c.catalog, ctx.aws), c.catalog.service)) {
    const local = attempt([g]);
    if ("found" in local) return local;
  }
  return wide;

  function attempt(universe: Glob[]): Search {
    const globs: Glob[] = [];
    const f = and(
      or(...universe.map((g) => ({ atom: globs.push(g) - 1 }))),
      resourcesOf([s], globs),
      bounds ? resourcesOf(bounds, globs) : TRUE,
      not(resourcesOf(denies, globs)),
      not(resourcesOf(env, globs)),
    );
    return findWitness(globs, f);
  }
}

/**
 * C1–C6 for one role against one envelope. Pure; compiled statements are cached per statement object, so checking the
 * same role objects again is cheap. Call once per distinct role and fan the result out to its hosts.
 */
export function checkRoleScope(role: RolePolicies, envelope: Envelope): ContainmentResult {
  const identity = role.policies.flatMap(stmtsOf);
  const boundary = role.boundary ? stmtsOf(role.boundary) : undefined;
  const ctx: Context = {
    identity,
    ...(boundary ? { boundary: boundary.filter((s) => !s.deny) } : {}),
    denies: [...identity, ...(boundary ?? [])].filter((s) => s.deny),
    envelope: envelopeStmts(envelope),
    aws: envelope.aws,
  };
  const own = ownScope(envelope);
  const findings: ContainmentFinding[] = [];
  for (const s of identity) {
    if (s.deny) continue;
    const found = new Map<RiskClass, ContainmentFinding>();
    const memo = new Map<string, Search>();
    for (const c of candidatesOf(s)) {
      const classes = riskClassesOf(c);
      // One witness per (statement, risk) is the finding; a second class of the same action adds little.
      if (classes.some((k) => found.get(k)?.kind === "iam-excess-grant")) continue;
      const bounds = ctx.boundary?.filter((b) => applies(b, c));
      if (bounds && bounds.length === 0) continue;
      const denies = ctx.denies.filter((d) => applies(d, c));
      const env = ctx.envelope.filter((e) => applies(e, c));
      const pick = (list: Stmt[], undecided: boolean) => list.filter((x) => (x.undecided !== undefined) === undecided);
      const key = (list: Stmt[]) => list.map((x) => `${x.ref.source}:${x.ref.policy}#${x.ref.index}`).join(",");
      const run = (b: Stmt[] | undefined, d: Stmt[]) => {
        const k = `${c.catalog ? `${c.catalog.service}|${c.catalog.resourceTypes.join(".")}` : c.name}/${b ? key(b) : "-"}/${key(d)}/${key(env)}`;
        let r = memo.get(k);
        if (!r) {
          r = search(s, c, b, d, env, ctx);
          memo.set(k, r);
        }
        return r;
      };
      const undecidedBy = [...pick(bounds ?? [], true), ...pick(denies, true)];
      let r: Search;
      let kind: ContainmentFinding["kind"] = "iam-excess-grant";
      if (s.undecided) {
        kind = "iam-unknown";
        r = run(bounds, pick(denies, false));
      } else {
        // C5: conditional boundary Allows off, conditional Denies on — excess here is certain.
        r = run(bounds && pick(bounds, false), denies);
        if ("none" in r && undecidedBy.length > 0) {
          kind = "iam-unknown";
          r = run(bounds, pick(denies, false));
        }
      }
      if ("none" in r) continue;
      if ("undecided" in r) kind = "iam-unknown";
      const resource = "found" in r ? r.found : "(too many cases to enumerate)";
      const risk = classify(c, resource, own);
      const prev = found.get(risk);
      if (prev && (prev.kind === "iam-excess-grant" || kind === "iam-unknown")) continue;
      const witness = { action: c.name, resource };
      const by = s.undecided ? [s.ref] : undecidedBy.map((x) => x.ref);
      found.set(risk, {
        kind,
        risk,
        statement: s.ref,
        witness,
        ...(kind === "iam-unknown" ? { undecidedBy: by } : {}),
        detail: detailOf(role, envelope, kind, risk, s, witness, "undecided" in r ? r.undecided : undefined, by),
      });
    }
    findings.push(...found.values());
  }
  const verdict = findings.some((f) => f.kind === "iam-excess-grant")
    ? "violation"
    : findings.length > 0
      ? "unknown"
      : "ok";
  return { verdict, findings };
}

function detailOf(
  role: RolePolicies,
  e: Envelope,
  kind: ContainmentFinding["kind"],
  risk: RiskClass,
  s: Stmt,
  w: { action: string; resource: string },
  tooComplex: string | undefined,
  by: StatementRef[],
): string {
  const what = `${w.action} on ${w.resource} (${RISK_LABEL[risk]}), outside the envelope of ${e.subject}`;
  if (kind === "iam-excess-grant")
    return `role ${role.roleName} can ${what}: allowed by ${describeStatement(s.ref)}; remove or narrow that statement.`;
  const why = tooComplex
    ? `the policy is too complex to decide (${tooComplex})`
    : `it depends on ${by.map((r) => (r === s.ref && s.undecided ? `${describeStatement(r)} (${s.undecided})` : describeStatement(r))).join(" and ")}`;
  return `role ${role.roleName} may ${what} through ${describeStatement(s.ref)}: ${why}, which cannot be decided without a request; review it.`;
}
