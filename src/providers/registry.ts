// Maps provider names to their modules, imported only when a secret uses them, so that `kz run` with
// env/local secrets never loads the AWS SDK or the HTTP clients of other backends.

import { ProviderError, type ProviderFactory } from "./types.ts";

type Loader = () => Promise<{ default: ProviderFactory }>;

export const providerLoaders: Record<string, Loader> = {
  env: () => import("./env.ts"),
  file: () => import("./file.ts"),
  local: () => import("./local.ts"),
  "1password": () => import("./onepassword.ts"),
  vault: () => import("./vault.ts"),
  "aws-sm": () => import("./aws-sm.ts"),
};

export async function loadProviderFactory(name: string): Promise<ProviderFactory> {
  const loader = providerLoaders[name];
  if (!loader) throw new ProviderError(`unknown provider "${name}"`);
  return (await loader()).default;
}
