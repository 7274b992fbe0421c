/**
 * The V8 flags zkts runs with: `bin/zkts` passes them (its second line, where sh starts
 * node), and whatever starts zkts with `node` itself (the ensemble command, the benchmarks,
 * the tests' servers) passes these.
 *
 * --initial-old-space-size=128 (MiB; like a JVM's -Xms): V8 otherwise starts the old
 * generation with a limit of a few MiB and, while it stays small beside the young
 * generation, starts a full mark-compact every ~150 ms under write load (requests' values
 * and change records promoted, then dead). With it, a run of 1 KiB writes went from ~45
 * mark-compacts and ~540 ms of GC pauses in 7.5 s to 0-3 and ~210 ms, and its p99 latency
 * from ~10 ms to ~5.5 ms. The limit is not memory taken: the heap commits what it uses.
 */
export const nodeFlags: readonly string[] = ["--initial-old-space-size=128"];
