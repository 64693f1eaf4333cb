// env provider: the value of an environment variable of kz's own process (ref = variable name).

import { SecretValue } from "../secret.ts";
import { ProviderError, type ProviderFactory } from "./types.ts";

const createEnvProvider: ProviderFactory = ({ env }) => ({
  async fetch({ ref }) {
    const value = env[ref];
    if (value === undefined) throw new ProviderError(`environment variable ${ref} is not set`);
    if (value === "") throw new ProviderError(`environment variable ${ref} is empty`);
    return new SecretValue(value);
  },
});

export default createEnvProvider;
