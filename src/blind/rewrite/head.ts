// Reading and editing a RequestHead's headers: names compare case-insensitively, the original spelling
// and order are kept.

import type { RequestHead } from "../types.ts";

export function headerValues(head: RequestHead, name: string): string[] {
  const lower = name.toLowerCase();
  return head.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** A copy of head whose first `name` header holds `value` (others of that name dropped; appended if absent). */
export function withHeader(head: RequestHead, name: string, value: string): RequestHead {
  const lower = name.toLowerCase();
  const headers: RequestHead["headers"] = [];
  let set = false;
  for (const [n, v] of head.headers) {
    if (n.toLowerCase() !== lower) headers.push([n, v]);
    else if (!set) {
      headers.push([n, value]);
      set = true;
    }
  }
  if (!set) headers.push([name, value]);
  return { ...head, headers };
}
