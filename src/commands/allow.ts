// kz allow: approves the project's current blind-mode bindings (each secret's provider, ref, hosts, blind,
// swap, and the [blind]/[audit]/provider settings, after .keyzero.local.toml and --env), after showing how
// they differ from the ones approved before. `--diff` shows the difference and approves nothing. A blind
// run refuses bindings that were never approved (see approval.ts).

import { ExitCode } from "../errors.ts";
import { writeStdout } from "../stdio.ts";
import { approvalState, describeProject, formatApproval, recordApproval } from "./approval.ts";
import { parseArgs } from "./args.ts";
import { commandHelp, helpFlag, type Command } from "./command.ts";
import { paint, printJson } from "./output.ts";
import { configFlags, configFromArgs } from "./shared.ts";

const flags = {
  ...configFlags,
  diff: { type: "boolean", description: "show how the bindings differ from the approved ones; approve nothing" },
  json: { type: "boolean", description: "print one JSON document" },
  ...helpFlag,
} as const;

const allow: Command = {
  name: "allow",
  summary: "approve this project's blind-mode bindings (after showing what changed)",
  usage: "kz allow [--diff] [--json] [--config FILE] [--env NAME]",
  flags,
  details: `kz run --blind uses only bindings you approved: a new project, or a change to a secret's
provider, ref, hosts, blind or swap (or to [blind], [audit] or provider settings) — in .keyzero.toml,
.keyzero.local.toml or the --env overlay — is shown and must be approved first, here or at the
prompt kz run --blind shows on a terminal. Each --env is approved on its own.

Approvals live in $XDG_CONFIG_HOME/keyzero/allowed/ (hidden from the sandboxed command).

Examples:
  kz allow --diff          # what changed since the last approval
  kz allow                 # approve the current bindings
  kz allow --env prod`,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (args.flags.help) {
      writeStdout(commandHelp(allow));
      return 0;
    }
    const state = approvalState(configFromArgs(args));
    const approve = !args.flags.diff && !state.upToDate;
    if (approve) recordApproval(state);
    if (args.flags.json) {
      printJson({
        config: state.config.path,
        env: state.config.env ?? null,
        approved: state.upToDate || approve,
        recorded: approve,
        fingerprint: state.fingerprint,
        changes: state.changes,
      });
      return ExitCode.ok;
    }
    const where = describeProject(state.config);
    if (state.upToDate) {
      writeStdout(`${paint(1, "green", "approved")} ${where}: the bindings are the ones you approved\n`);
      return ExitCode.ok;
    }
    writeStdout(formatApproval(state));
    writeStdout(approve ? `${paint(1, "green", "approved")} ${where}\n` : `not approved — run \`kz allow\` to approve them\n`);
    return ExitCode.ok;
  },
};

export default allow;
