// IAM policy documents as plain data, plus the decoder that turns what IAM returns into them.
import { InvalidInputError } from "../errors.ts";

export type OneOrMany<T> = T | T[];

/** A condition block value: IAM accepts strings, booleans and numbers, alone or in a list. */
export type ConditionValue = OneOrMany<string | boolean | number>;

/** `{ "StringEquals": { "aws:PrincipalTag/team": ["a", "b"] } }` */
export type ConditionBlock = Record<string, Record<string, ConditionValue>>;

export interface PolicyStatement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action?: OneOrMany<string>;
  NotAction?: OneOrMany<string>;
  Resource?: OneOrMany<string>;
  NotResource?: OneOrMany<string>;
  Condition?: ConditionBlock;
  Principal?: unknown;
}

export interface PolicyDocument {
  Version?: string;
  Statement: OneOrMany<PolicyStatement>;
}

/** Lists the statements of a document: IAM allows `Statement` to be a single object or an array. */
export function statements(doc: PolicyDocument): PolicyStatement[] {
  return Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
}

/** Normalises `"x"` / `["x", "y"]` / absent to an array. */
export function asArray<T>(v: OneOrMany<T> | undefined): T[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fail(label: string, message: string): never {
  throw new InvalidInputError(`policy document${label ? ` '${label}'` : ""}: ${message}`);
}

function checkStrings(label: string, where: string, v: unknown): void {
  const ok = typeof v === "string" || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string"));
  if (!ok) fail(label, `${where} must be a string or a non-empty array of strings`);
}

function checkStatement(label: string, i: number, s: unknown): void {
  const at = `Statement[${i}]`;
  if (!isRecord(s)) fail(label, `${at} must be an object`);
  if (s.Effect !== "Allow" && s.Effect !== "Deny") fail(label, `${at}.Effect must be "Allow" or "Deny"`);
  if (s.Sid !== undefined && typeof s.Sid !== "string") fail(label, `${at}.Sid must be a string`);
  const hasA = s.Action !== undefined;
  const hasNA = s.NotAction !== undefined;
  if (hasA === hasNA) fail(label, `${at} needs exactly one of Action / NotAction`);
  checkStrings(label, `${at}.${hasA ? "Action" : "NotAction"}`, hasA ? s.Action : s.NotAction);
  const hasR = s.Resource !== undefined;
  const hasNR = s.NotResource !== undefined;
  if (hasR === hasNR)
    fail(label, `${at} needs exactly one of Resource / NotResource (identity policies name resources)`);
  checkStrings(label, `${at}.${hasR ? "Resource" : "NotResource"}`, hasR ? s.Resource : s.NotResource);
  if (s.Condition !== undefined) {
    if (!isRecord(s.Condition)) fail(label, `${at}.Condition must be an object`);
    for (const [op, block] of Object.entries(s.Condition)) {
      if (!isRecord(block)) fail(label, `${at}.Condition.${op} must be an object of condition keys`);
      for (const [key, val] of Object.entries(block)) {
        const scalar = (x: unknown) => typeof x === "string" || typeof x === "boolean" || typeof x === "number";
        if (!(scalar(val) || (Array.isArray(val) && val.every(scalar))))
          fail(label, `${at}.Condition.${op}.${key} must be a string, boolean, number or a list of them`);
      }
    }
  }
}

/**
 * Decodes a policy document as IAM returns it (URL-encoded JSON, RFC 3986), plain JSON text, or an
 * already-parsed object, and checks its shape. `label` (policy name) only improves error messages.
 * Throws InvalidInputError naming the first bad field.
 */
export function decodePolicyDocument(raw: string | object, label = ""): PolicyDocument {
  let parsed: unknown = raw;
  if (typeof raw === "string") {
    const text = raw.trim();
    let json = text;
    // Plain JSON starts with "{"; IAM's URL-encoded form starts with "%7B". Decoding plain JSON would
    // corrupt literal "%" characters inside it, so only decode what is not JSON already.
    if (!text.startsWith("{")) {
      try {
        json = decodeURIComponent(text);
      } catch {
        fail(label, "is neither JSON nor valid URL-encoded JSON");
      }
    }
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      fail(label, `is not valid JSON (${(err as Error).message})`);
    }
  }
  if (!isRecord(parsed)) fail(label, "must be a JSON object");
  if (parsed.Version !== undefined && typeof parsed.Version !== "string") fail(label, "Version must be a string");
  const st = parsed.Statement;
  if (st === undefined) fail(label, "has no Statement");
  if (Array.isArray(st)) for (const [i, s] of st.entries()) checkStatement(label, i, s);
  else checkStatement(label, 0, st);
  return parsed as unknown as PolicyDocument;
}
