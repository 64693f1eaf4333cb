// local provider: reads from kz's own encrypted store (see local-store.ts); ref = the entry's name.

import { KzError } from "../errors.ts";
import { LocalStore } from "./local-store.ts";
import { ProviderError, type ProviderFactory } from "./types.ts";

const createLocalProvider: ProviderFactory = ({ env }) => {
  const store = new LocalStore(env);
  return {
    async fetch({ ref }) {
      try {
        const value = await store.get(ref);
        if (!value) throw new ProviderError(`not in the local store — add it with \`kz put ${ref}\``);
        return value;
      } catch (e) {
        if (e instanceof KzError) throw new ProviderError(e.message);
        throw e;
      }
    },
  };
};

export default createLocalProvider;
