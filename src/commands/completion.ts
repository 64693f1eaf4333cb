// kz completion bash|zsh|fish: prints a completion script for commands and their flags.
//   bash: source <(kz completion bash)   zsh: kz completion zsh > "${fpath[1]}/_kz"   fish: kz completion fish | source

import { writeStdout } from "../stdio.ts";
import { UsageError } from "../errors.ts";
import { commandNames, loadCommand } from "./catalog.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";

async function flagsByCommand(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const name of commandNames) {
    const cmd = (await loadCommand(name))!;
    out.set(name, Object.keys(cmd.flags).map((f) => `--${f}`));
  }
  return out;
}

export function bashScript(flags: Map<string, string[]>): string {
  const cases = [...flags].map(([c, f]) => `    ${c}) opts="${f.join(" ")}" ;;`).join("\n");
  return `# kz bash completion — source <(kz completion bash)
_kz() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[1]} opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commandNames.join(" ")} --help --version" -- "$cur")); return
  fi
  case "$cmd" in
${cases}
  esac
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do [ "$w" = "--" ] && { COMPREPLY=($(compgen -c -- "$cur")); return; }; done
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _kz kz
`;
}

export function zshScript(flags: Map<string, string[]>): string {
  const cases = [...flags].map(([c, f]) => `    ${c}) compadd -- ${f.join(" ")} ;;`).join("\n");
  return `#compdef kz
# kz zsh completion — kz completion zsh > "\${fpath[1]}/_kz"
_kz() {
  if (( CURRENT == 2 )); then
    compadd -- ${commandNames.join(" ")}
    return
  fi
  case "$words[2]" in
${cases}
  esac
}
compdef _kz kz
`;
}

export function fishScript(flags: Map<string, string[]>): string {
  const lines = [`# kz fish completion — kz completion fish | source`, `complete -c kz -f`];
  for (const name of commandNames) lines.push(`complete -c kz -n __fish_use_subcommand -a ${name}`);
  for (const [c, f] of flags) {
    for (const flag of f) lines.push(`complete -c kz -n "__fish_seen_subcommand_from ${c}" -l ${flag.slice(2)}`);
  }
  return `${lines.join("\n")}\n`;
}

const completion: Command = {
  name: "completion",
  summary: "print a shell completion script (bash, zsh, fish)",
  usage: "kz completion bash|zsh|fish",
  flags: { ...helpFlag },
  details: `Install:
  bash: echo 'source <(kz completion bash)' >> ~/.bashrc
  zsh:  kz completion zsh > "\${fpath[1]}/_kz"
  fish: kz completion fish > ~/.config/fish/completions/kz.fish`,
  async run(argv) {
    const [shell] = argv;
    if (shell === "--help" || shell === "-h") {
      writeStdout(commandHelp(completion));
      return 0;
    }
    const render = { bash: bashScript, zsh: zshScript, fish: fishScript }[shell ?? ""];
    if (!render) throw new UsageError("usage: kz completion bash|zsh|fish");
    writeStdout(render(await flagsByCommand()));
    return 0;
  },
};

export default completion;
