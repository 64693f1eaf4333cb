// `template`: a secret built from several fields of one read (a database URL from a lease's username and
// password), and how a bad template is reported.

import { expect, test } from "bun:test";
import { fillTemplate, templateFields, templateProblem } from "../../src/config/template.ts";

test("fields in order of first use; a URL template percent-encodes each value so it cannot change the URL's shape", () => {
  const t = "postgres://{{username}}:{{ password }}@db:5432/app?user={{username}}";
  expect(templateFields(t)).toEqual(["username", "password"]);
  const filled = fillTemplate(t, new Map([["username", "v-ro-1"], ["password", "p@ss/w:rd?#"]]));
  expect(filled).toBe("postgres://v-ro-1:p%40ss%2Fw%3Ard%3F%23@db:5432/app?user=v-ro-1");
  expect(new URL(filled).hostname).toBe("db");
  expect(fillTemplate("{{a}}-{{b}}", new Map([["a", "x y"], ["b", "@"]]))).toBe("x y-@"); // not a URL: as is
});

test("a template without fields, or with a broken one, is a config error naming the key", () => {
  expect(templateProblem("postgres://static@db/app")).toContain("at least one field");
  expect(templateProblem("postgres://{{username}@db")).toBeDefined();
  expect(templateProblem("{{a}}")).toBeUndefined();
});
