/** Placeholder replaced below. */
export async function runShell(_args: string[]): Promise<number> {
  return 1;
}
