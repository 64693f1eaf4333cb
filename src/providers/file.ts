// file provider: a file's contents (one trailing newline trimmed) or one `field` of a JSON file.
// A relative ref is relative to the config file. node:fs/promises loads when a file secret is read
// (~1 ms of every `kz run`'s start-up otherwise, bundled as this provider is).

import { isAbsolute, join } from "node:path";
import { SecretValue } from "../secret.ts";
import { selectField } from "./field.ts";
import { ProviderError, type ProviderFactory } from "./types.ts";

const createFileProvider: ProviderFactory = ({ configDir }) => ({
  async fetch({ ref, field }) {
    const path = isAbsolute(ref) ? ref : join(configDir, ref);
    let text: string;
    try {
      const { readFile } = await import("node:fs/promises");
      text = await readFile(path, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ProviderError(code === "ENOENT" ? `file ${path} does not exist` : `cannot read ${path} (${code})`);
    }
    const value = selectField(text.replace(/\r?\n$/, ""), field, `file ${path}`);
    if (value === "") throw new ProviderError(`file ${path} is empty`);
    return new SecretValue(value);
  },
});

export default createFileProvider;
