// Keeps the bench's IAM judge honest: the fleet it times really has six roles over their envelope and six inside.
import { describe, expect, it } from "vitest";
import { judge } from "../../bench/lib/iam-judge.ts";

describe("bench IAM judge", () => {
  it("judges 12 roles for 2,000 hosts into one table row per (role, statement, risk)", () => {
    // 5 roles with one finding each (SendCommand, PassRole, History, Prefix, Tagged) + "*" with its 5 risk classes;
    // 2,000 hosts over 12 roles: 167 hosts for each of the first 8 roles, 166 for the others.
    expect(judge()).toEqual({ findings: 167 * 10, rows: 10 });
  });
});
