// CEL for policy rules (@bufbuild/cel): each rule is parsed and planned once, and checked for names kz
// does not provide (@bufbuild/cel has no type checker, so `idenity.x` would otherwise only fail — as a
// deny — on every request). Evaluation returns errors as values, never throws; only a boolean `true`
// or `false` is a result, anything else is reported as an error. Also converts a request's inputs —
// JWT claims, the secret, the request, the time — into CEL values.

import { celEnv, celList, celMap, isCelError, parse, plan, type CelEnv, type CelInput, type CelMap } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { nearest } from "../config/suggest.ts";

/** The variables a rule sees, and the fields kz puts in the fixed-shape ones. */
export const ruleVariables = ["identity", "secret", "request", "now"];
const knownFields: Record<string, string[]> = {
  secret: ["name", "provider", "ref"],
  request: ["action", "host", "method", "path", "write"],
};
/** Type denotations usable as values, e.g. `type(x) == string`. */
const typeNames = new Set(["int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"]);

export class CelCompileError extends Error {
  override name = "CelCompileError";
  constructor(
    message: string,
    /** 1-based position inside the rule's expression. */
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

/** What a rule needs at evaluation. */
export interface RuleBindings {
  identity: CelMap;
  secret: CelMap;
  request: CelMap;
  now: CelInput;
}

export type RuleOutcome = { ok: true; value: boolean } | { ok: false; error: string };

export interface CompiledRule {
  source: string;
  /** Identity claims the rule reads by name (for the audit record), sorted. */
  claims: string[];
  evaluate(bindings: RuleBindings): RuleOutcome;
}

type Parsed = ReturnType<typeof parse>;
type Expr = Parsed["expr"];

let sharedEnv: CelEnv | undefined;
function env(): CelEnv {
  sharedEnv ??= celEnv({ funcs: strings });
  return sharedEnv;
}

/** Parses, checks and plans `source`. Throws CelCompileError with the position of the problem. */
export function compileRule(source: string): CompiledRule {
  let parsed: Parsed;
  try {
    parsed = parse(source);
  } catch (e) {
    const loc = (e as { location?: { start?: { line?: number; column?: number } } }).location?.start;
    const message = e instanceof Error ? e.message.replace(/^<input>:\d+:\d+:\s*/, "") : "syntax error";
    throw new CelCompileError(`syntax error: ${message}`, loc?.line ?? 1, loc?.column ?? 1);
  }
  const claims = checkNames(parsed, source);
  const run = plan(env(), parsed);
  return {
    source,
    claims,
    evaluate(bindings) {
      let result: unknown;
      try {
        result = run(bindings as unknown as Record<string, CelInput>);
      } catch (e) {
        return { ok: false, error: oneLine(e instanceof Error ? e.message : String(e)) };
      }
      if (typeof result === "boolean") return { ok: true, value: result };
      if (isCelError(result)) return { ok: false, error: oneLine(result.message) };
      return { ok: false, error: `the rule gave ${describeValue(result)}, not true or false` };
    },
  };
}

function oneLine(message: string): string {
  const line = message.split("\n")[0]!.trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "bigint") return "an int";
  if (typeof value === "number") return "a double";
  if (typeof value === "string") return "a string";
  if (value instanceof Uint8Array) return "bytes";
  return "a value of another type";
}

/** Line and column (1-based) of character `offset` in `source`. */
function position(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

function constString(expr: Expr | undefined): string | undefined {
  const kind = expr?.exprKind;
  return kind?.case === "constExpr" && kind.value.constantKind.case === "stringValue" ? kind.value.constantKind.value : undefined;
}

function identName(expr: Expr | undefined, bound: ReadonlySet<string>): string | undefined {
  const kind = expr?.exprKind;
  return kind?.case === "identExpr" && !bound.has(kind.value.name) ? kind.value.name : undefined;
}

/**
 * Walks the expression: throws on a variable, function or field kz does not provide; returns the
 * identity claims read by name (`identity.x`, `identity['x']`, `'x' in identity`).
 */
function checkNames(parsed: Parsed, source: string): string[] {
  const claims = new Set<string>();
  const positions = parsed.sourceInfo?.positions ?? {};
  const fail = (expr: Expr, message: string): never => {
    const at = position(source, positions[String(expr.id)] ?? 0);
    throw new CelCompileError(message, at.line, at.column);
  };
  const field = (variable: string, name: string, expr: Expr) => {
    if (variable === "identity") claims.add(name);
    const fields = knownFields[variable];
    if (fields && !fields.includes(name)) {
      const hint = nearest(name, fields);
      fail(expr, `${variable} has no field "${name}"${hint ? ` — did you mean "${hint}"?` : ""} (it has ${fields.join(", ")})`);
    }
  };

  const walk = (expr: Expr | undefined, bound: ReadonlySet<string>): void => {
    if (!expr) return;
    const kind = expr.exprKind;
    switch (kind.case) {
      case "identExpr": {
        const name = kind.value.name;
        if (bound.has(name) || ruleVariables.includes(name) || typeNames.has(name)) return;
        const hint = nearest(name, ruleVariables);
        fail(expr, `unknown name "${name}"${hint ? ` — did you mean "${hint}"?` : ""} (rules see ${ruleVariables.join(", ")})`);
        return;
      }
      case "selectExpr": {
        const variable = identName(kind.value.operand, bound);
        if (variable) field(variable, kind.value.field, expr);
        walk(kind.value.operand, bound);
        return;
      }
      case "callExpr": {
        const { function: fn, args, target } = kind.value;
        if (fn === "_[_]" && identName(args[0], bound)) {
          const key = constString(args[1]);
          if (key !== undefined) field(identName(args[0], bound)!, key, expr);
        } else if (fn === "@in" && identName(args[1], bound) === "identity") {
          const key = constString(args[0]);
          if (key !== undefined) claims.add(key);
        }
        if (/^[A-Za-z]/.test(fn) && !env().funcs.find(fn)) {
          fail(expr, `unknown function "${fn}"${target ? " (called as a method)" : ""}`);
        }
        walk(target, bound);
        for (const arg of args) walk(arg, bound);
        return;
      }
      case "listExpr":
        for (const el of kind.value.elements) walk(el, bound);
        return;
      case "structExpr":
        if (kind.value.messageName) fail(expr, `unknown message type "${kind.value.messageName}"`);
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case === "mapKey") walk(entry.keyKind.value, bound);
          walk(entry.value, bound);
        }
        return;
      case "comprehensionExpr": {
        const c = kind.value;
        walk(c.iterRange, bound);
        walk(c.accuInit, bound);
        const inner = new Set(bound);
        for (const name of [c.iterVar, c.iterVar2, c.accuVar]) if (name) inner.add(name);
        walk(c.loopCondition, inner);
        walk(c.loopStep, inner);
        walk(c.result, inner);
        return;
      }
      default:
        return; // constants
    }
  };
  walk(parsed.expr, new Set());
  return [...claims].sort();
}

/** A JSON value (a JWT claim) as a CEL value: integral numbers become int, other numbers double. */
export function toCelValue(value: unknown): CelInput | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isSafeInteger(value) ? BigInt(value) : value;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) return celList(value.map((v) => toCelValue(v) ?? null));
      return celRecord(value as Record<string, unknown>);
    }
    default:
      return undefined; // undefined, functions, symbols: absent
  }
}

/** A JSON object as a CEL map, converted once (for the identity: once per request). */
export function celRecord(record: Record<string, unknown>): CelMap {
  const entries = new Map<string, CelInput>();
  for (const [key, raw] of Object.entries(record)) {
    const value = toCelValue(raw);
    if (value !== undefined) entries.set(key, value);
  }
  return celMap(entries);
}

/** A CEL timestamp. @bufbuild/cel takes google.protobuf.Timestamp in its plain-object message shape. */
export function celTimestamp(date: Date): CelInput {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { $typeName: "google.protobuf.Timestamp", seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 } as unknown as CelInput;
}
