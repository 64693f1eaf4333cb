// KzError and the exit codes kz itself returns. A KzError's message is one line meant for the user: it
// names the file, key or secret and says how to fix it. It never carries a secret value.

export const ExitCode = {
  ok: 0,
  failure: 1, // unexpected internal error
  usage: 2, // bad flags, unknown command
  config: 3, // .keyzero.toml missing, malformed or invalid
  secrets: 4, // one or more required secrets failed to resolve; the child was not started
  sandbox: 5, // the sandbox could not be set up (no mechanism works here); the child was not started
  notExecutable: 126, // the command was found but could not be executed
  notFound: 127, // the command was not found
} as const;

export class KzError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.failure,
  ) {
    super(message);
    this.name = "KzError";
  }
}

export class UsageError extends KzError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = "UsageError";
  }
}

export class ConfigError extends KzError {
  constructor(message: string) {
    super(message, ExitCode.config);
    this.name = "ConfigError";
  }
}
