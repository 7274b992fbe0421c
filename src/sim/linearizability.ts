/**
 * A linearizability checker in the Wing & Gong style with Lowe's memoisation, as
 * Porcupine does it: walk the history's call and return events in time order, linearize
 * an operation at its call when the model accepts it, backtrack at a return that nothing
 * could be placed before, and remember (linearized set, model state) pairs already tried.
 * Operations that never returned may take effect at any point after their call, or never.
 * Pure; every limit is named.
 */

export interface Operation<I, O> {
  client: number;
  input: I;
  output: O;
  /** Logical timestamps; `return` is Infinity for an operation whose outcome is unknown. */
  call: number;
  return: number;
}

export interface Model<S, I, O> {
  init(): S;
  step(state: S, input: I, output: O): { ok: boolean; state: S };
  /** A key that is equal for equal states (memoisation). */
  key(state: S): string;
  describe?(input: I, output: O): string;
}

export interface CheckResult {
  linearizable: boolean;
  explanation?: string;
  /** The search hit `maxStates`: neither proven nor refuted. */
  unknown?: boolean;
}

/** Distinct (linearized set, state) pairs explored before the checker gives up. */
export const maxStatesDefault = 1_000_000;

interface Entry {
  kind: "call" | "return";
  time: number;
  op: number;
  match: Entry | null;
  previous: Entry | null;
  next: Entry | null;
}

export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: { maxStates?: number } = {},
): CheckResult {
  const maxStates = options.maxStates ?? maxStatesDefault;
  const events: Entry[] = [];
  for (const [index, operation] of history.entries()) {
    const call: Entry = {
      kind: "call",
      time: operation.call,
      op: index,
      match: null,
      previous: null,
      next: null,
    };
    const ret: Entry = {
      kind: "return",
      time: operation.return,
      op: index,
      match: null,
      previous: null,
      next: null,
    };
    call.match = ret;
    events.push(call, ret);
  }
  // Time order; at equal times calls first (overlapping), then by operation for determinism.
  events.sort((a, b) => a.time - b.time || (a.kind === b.kind ? a.op - b.op : a.kind === "call" ? -1 : 1));
  const head: Entry = {
    kind: "call",
    time: Number.NEGATIVE_INFINITY,
    op: -1,
    match: null,
    previous: null,
    next: null,
  };
  let last = head;
  for (const event of events) {
    event.previous = last;
    last.next = event;
    last = event;
  }
  const lift = (entry: Entry) => {
    if (entry.previous !== null) entry.previous.next = entry.next;
    if (entry.next !== null) entry.next.previous = entry.previous;
    const match = entry.match as Entry;
    if (match.previous !== null) match.previous.next = match.next;
    if (match.next !== null) match.next.previous = match.previous;
  };
  const unlift = (entry: Entry) => {
    const match = entry.match as Entry;
    if (match.previous !== null) match.previous.next = match;
    if (match.next !== null) match.next.previous = match;
    if (entry.previous !== null) entry.previous.next = entry;
    if (entry.next !== null) entry.next.previous = entry;
  };
  let state = model.init();
  let linearized = 0n;
  const seen = new Set<string>();
  const stack: { entry: Entry; state: S }[] = [];
  let longest = 0;
  let entry = head.next;
  for (;;) {
    // Only operations that never returned are left: they may never have taken effect.
    if (head.next === null || (head.next.kind === "return" && head.next.time === Number.POSITIVE_INFINITY)) {
      return { linearizable: true };
    }
    if (entry === null) entry = head.next;
    if (entry.kind === "call") {
      const operation = history[entry.op] as Operation<I, O>;
      const result = model.step(state, operation.input, operation.output);
      if (result.ok) {
        const next = linearized | (1n << BigInt(entry.op));
        const key = `${next.toString(36)}|${model.key(result.state)}`;
        if (!seen.has(key)) {
          if (seen.size >= maxStates) return { linearizable: false, unknown: true };
          seen.add(key);
          stack.push({ entry, state });
          state = result.state;
          linearized = next;
          longest = Math.max(longest, stack.length);
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
      continue;
    }
    // Past every completed operation: what is left never returned and may never have happened.
    if (entry.time === Number.POSITIVE_INFINITY) return { linearizable: true };
    // A return reached before its operation could be placed: undo the last choice.
    const top = stack.pop();
    if (top === undefined) {
      const stuck = history[entry.op] as Operation<I, O>;
      return {
        linearizable: false,
        explanation: `no order places ${model.describe?.(stuck.input, stuck.output) ?? `operation ${entry.op}`} (client ${stuck.client}, ${stuck.call}-${stuck.return}); the longest linearizable prefix had ${longest} operations`,
      };
    }
    state = top.state;
    linearized &= ~(1n << BigInt(top.entry.op));
    unlift(top.entry);
    entry = top.entry.next;
  }
}

/** P-compositionality: a history of independent keys is linearizable when each key's is. */
export function partitionedCheck<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  keyOf: (input: I) => string,
  options: { maxStates?: number } = {},
): CheckResult {
  const byKey = new Map<string, Operation<I, O>[]>();
  for (const operation of history) {
    const key = keyOf(operation.input);
    const list = byKey.get(key) ?? [];
    list.push(operation);
    byKey.set(key, list);
  }
  let unknown = false;
  for (const [key, operations] of byKey) {
    const result = checkLinearizable(model, operations, options);
    if (result.unknown === true) unknown = true;
    else if (!result.linearizable)
      return { linearizable: false, explanation: `key ${key}: ${result.explanation ?? ""}` };
  }
  return unknown ? { linearizable: false, unknown: true } : { linearizable: true };
}

export type RegisterInput = { op: "write"; key: string; value: string } | { op: "read"; key: string };

/** A register per key: writes set it, reads must see the latest value (null: never written). */
export const registerModel: Model<string | null, RegisterInput, string | null> = {
  init: () => null,
  step: (state, input, output) =>
    input.op === "write" ? { ok: true, state: input.value } : { ok: output === state, state },
  key: (state) => state ?? "\u0000",
  describe: (input, output) =>
    input.op === "write"
      ? `write ${input.key}=${input.value}`
      : `read ${input.key} -> ${output ?? "nothing"}`,
};
