// While kz resolves secrets that may mint credentials (a Vault lease), a ^C or SIGTERM must not kill kz
// before it can revoke what was minted. Held signals are noted instead: resolution finishes (each
// provider is bounded by its timeout), the leases are revoked, nothing starts, and kz exits 128+N as if
// the command had died of the signal. A second signal while held exits at once.

const HELD = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

export interface SignalHold {
  /** 128+N for the first signal caught while held, else undefined. */
  caught(): number | undefined;
  /** Restores the usual handling. */
  release(): void;
}

/** `say` tells the user, once, that kz is stopping (and how to stop it at once). */
export function holdSignals(say: (message: string) => void): SignalHold {
  let caught: number | undefined;
  const offs = Object.entries(HELD).map(([name, number]) => {
    const handler = () => {
      if (caught !== undefined) process.exit(128 + number);
      caught = 128 + number;
      say(`${name}: stopping once the secrets being read are in, to revoke any lease among them (send it again to quit now)`);
    };
    process.on(name, handler);
    return () => process.off(name, handler);
  });
  return { caught: () => caught, release: () => offs.forEach((off) => off()) };
}
