package io.xbosh.bench;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LatencyRecorderTest {

  @Test
  void nearestRankPercentiles() {
    LatencyRecorder r = new LatencyRecorder();
    assertThat(r.percentile(99)).isZero();
    for (int i = 100; i >= 1; i--) {
      r.record(i);
    }
    assertThat(r.count()).isEqualTo(100);
    assertThat(r.percentile(50)).isEqualTo(50);
    assertThat(r.percentile(95)).isEqualTo(95);
    assertThat(r.percentile(99)).isEqualTo(99);
    assertThat(r.max()).isEqualTo(100);
    r.record(1_000_000);
    assertThat(r.max()).isEqualTo(1_000_000);
    assertThat(r.percentile(50)).isEqualTo(51);
  }

  @Test
  void meanAndMerge() {
    LatencyRecorder a = new LatencyRecorder();
    assertThat(a.mean()).isZero();
    a.record(10);
    a.record(30);
    LatencyRecorder b = new LatencyRecorder();
    b.record(50);
    a.addAll(b);
    assertThat(a.count()).isEqualTo(3);
    assertThat(a.mean()).isEqualTo(30);
    assertThat(a.max()).isEqualTo(50);
  }

  @Test
  void argumentsRepeatAndTheLastWins() {
    var a = Bench.parse(new String[] {"--url", "http://a/", "--url", "http://b/", "--rate", "5", "--rate", "7"});
    assertThat(a.get("url")).containsExactly("http://a/", "http://b/");
    assertThat(a.get("rate")).containsExactly("5", "7");
  }
}
