package io.xbosh.bench;

import java.util.Arrays;

/** Latency samples in microseconds; percentiles by nearest rank. Not thread-safe: one event loop writes. */
public final class LatencyRecorder {

  private long[] samples = new long[1024];
  private int count;

  public void record(long micros) {
    if (count == samples.length) {
      samples = Arrays.copyOf(samples, samples.length * 2);
    }
    samples[count++] = micros;
  }

  public int count() {
    return count;
  }

  /** The nearest-rank percentile (0 < p ≤ 100) in microseconds; 0 without samples. */
  public long percentile(double p) {
    if (count == 0) {
      return 0;
    }
    long[] sorted = Arrays.copyOf(samples, count);
    Arrays.sort(sorted);
    int rank = (int) Math.ceil(p / 100.0 * count);
    return sorted[Math.max(0, Math.min(count, rank) - 1)];
  }

  /** The mean in microseconds; 0 without samples. */
  public long mean() {
    long sum = 0;
    for (int i = 0; i < count; i++) {
      sum += samples[i];
    }
    return count == 0 ? 0 : sum / count;
  }

  /** Adds another recorder's samples. */
  public void addAll(LatencyRecorder other) {
    for (int i = 0; i < other.count; i++) {
      record(other.samples[i]);
    }
  }

  public long max() {
    return percentile(100);
  }
}
