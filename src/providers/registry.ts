// Maps provider names to their modules. The local ones (env, file, local store) are small and on the
// hot path, so they are bundled with it; the backends are imported only when a secret uses them, so
// that `kz run` with local secrets never loads the AWS SDK or other backends' HTTP clients. (In a
// compiled kz each dynamic import costs a few ms, which is why the cheap ones are not lazy.)

import createEnvProvider from "./env.ts";
import createFileProvider from "./file.ts";
import createLocalProvider from "./local.ts";
import { ProviderError, type ProviderFactory } from "./types.ts";

type Loader = () => Promise<{ default: ProviderFactory }>;

export const providerLoaders: Record<string, Loader> = {
  env: async () => ({ default: createEnvProvider }),
  file: async () => ({ default: createFileProvider }),
  local: async () => ({ default: createLocalProvider }),
  "1password": () => import("./onepassword.ts"),
  vault: () => import("./vault.ts"),
  "aws-sm": () => import("./aws-sm.ts"),
  "aws-sts": () => import("./aws-sts.ts"),
  kz: () => import("./kz.ts"),
};

export async function loadProviderFactory(name: string): Promise<ProviderFactory> {
  const loader = providerLoaders[name];
  if (!loader) throw new ProviderError(`unknown provider "${name}"`);
  return (await loader()).default;
}
