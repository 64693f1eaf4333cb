// Selecting one `field` out of a JSON secret (file, aws-sm, and any provider returning a document).
// Messages may name fields, never show their values.

import { ProviderError } from "./types.ts";

export function selectField(text: string, field: string | undefined, what: string): string {
  if (field === undefined) return text;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ProviderError(`${what} is not JSON, so field "${field}" cannot be selected — drop "field" to use the whole value`);
  }
  return fieldOf(doc, field, what);
}

export function fieldOf(doc: unknown, field: string, what: string): string {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ProviderError(`${what} is not a JSON object, so field "${field}" cannot be selected`);
  }
  const record = doc as Record<string, unknown>;
  if (!(field in record)) {
    const names = Object.keys(record);
    throw new ProviderError(`${what} has no field "${field}"${names.length ? ` (fields: ${names.join(", ")})` : ""}`);
  }
  const value = record[field];
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw new ProviderError(`${what} field "${field}" is not a string`);
}
