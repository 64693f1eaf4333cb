// SecretValue: the one type that holds a credential. Every way of printing it — String(), JSON,
// console.log/Bun.inspect, template literals — yields a redaction marker; the raw string comes out only
// through reveal(), called where the value is actually used (a child's env, an outgoing request).

export const REDACTED = "[kz:redacted]";

const inspectCustom = Symbol.for("nodejs.util.inspect.custom");

export class SecretValue {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The raw credential. Call only at the point of use, never to log or report. */
  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspectCustom](): string {
    return `SecretValue(${REDACTED})`;
  }

  [Bun.inspect.custom](): string {
    return `SecretValue(${REDACTED})`;
  }
}
