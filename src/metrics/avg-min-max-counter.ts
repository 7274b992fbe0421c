/**
 * ZooKeeper's AvgMinMaxCounter (org.apache.zookeeper.server.metric): a count, a sum, a minimum
 * and a maximum of whole values (milliseconds, as ZooKeeper measures fsync and snapshot times),
 * shown by `mntr` as zk_avg_<name>, zk_min_<name>, zk_max_<name>, zk_cnt_<name>, zk_sum_<name>.
 */
export class AvgMinMaxCounter {
  count = 0;
  sum = 0;
  /** 0 until a value is added, as ZooKeeper reports it. */
  min = 0;
  max = 0;

  /** Adds one value, truncated to a whole number as ZooKeeper's TimeUnit.toMillis does. */
  add(value: number): void {
    const whole = Math.trunc(value);
    this.min = this.count === 0 ? whole : Math.min(this.min, whole);
    this.max = this.count === 0 ? whole : Math.max(this.max, whole);
    this.count++;
    this.sum += whole;
  }

  /** The mean, rounded half up to 4 decimals as ZooKeeper's getAvg does (toFixed rounds the exact value). */
  get avg(): number {
    return this.count === 0 ? 0 : Number((this.sum / this.count).toFixed(4));
  }

  /** The five mntr rows, values written as ZooKeeper writes them (the average as a Java double). */
  mntrRows(name: string): [string, string][] {
    return [
      [`zk_avg_${name}`, javaDouble(this.avg)],
      [`zk_min_${name}`, String(this.min)],
      [`zk_max_${name}`, String(this.max)],
      [`zk_cnt_${name}`, String(this.count)],
      [`zk_sum_${name}`, String(this.sum)],
    ];
  }
}

/** Double.toString: "1.0" for 1, "2.5", and E notation below 10^-3 or from 10^7 ("5.0E-4"). */
export function javaDouble(value: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e7)) {
    const [mantissa = "0", exponent = "0"] = value.toExponential().split("e");
    return `${mantissa.includes(".") ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
  }
  const plain = String(value);
  return plain.includes(".") ? plain : `${plain}.0`;
}
