package io.xbosh.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessSamplerTest {

  @Test
  void cpuOfARealProcessPerThousandDeliveredMessages(@TempDir Path dir) throws Exception {
    Path out = dir.resolve("procs.tsv");
    long self = ProcessHandle.current().pid();
    ProcessSampler s = ProcessSampler.from(Bench.parse(new String[] {"--proc", "me=" + self, "--proc-out", out.toString()}));
    s.start();
    // burn CPU on this thread until /proc shows at least 0.2 s more (ticks of 10 ms)
    double until = ProcessStats.cpuSeconds(self) + 0.2;
    long x = 0;
    while (ProcessStats.cpuSeconds(self) < until) {
      for (int i = 0; i < 1_000_000; i++) {
        x += i ^ x;
      }
    }
    s.finish("t", "chat", 10, 100, 2000, 500, false);
    BenchSummary.Table t = BenchSummary.Table.read(out);
    assertThat(t.rows()).hasSize(2); // the generator (this JVM) is always measured, and "me"
    Map<String, String> me = t.rows().get(1);
    assertThat(me.get("process")).isEqualTo("me");
    double cpu = Double.parseDouble(me.get("cpu_s"));
    assertThat(cpu).isGreaterThanOrEqualTo(0.2);
    assertThat(Double.parseDouble(me.get("cpu_s_per_1000_msgs"))).isCloseTo(cpu / 2, org.assertj.core.data.Offset.offset(0.002));
    assertThat(Double.parseDouble(me.get("rss_mb"))).isPositive();
    assertThat(me.get("redis_cmds_per_s")).isEqualTo("-1.00"); // no Redis named
    assertThat(x).isNotEqualTo(42);
    // a second phase appends without a second header
    s.start();
    s.finish("t", "chat", 10, 100, 0, 0, false);
    assertThat(Files.readAllLines(out)).hasSize(5);
    assertThat(BenchSummary.Table.read(out).rows().get(3).get("cpu_s_per_1000_msgs")).isEqualTo("-1.000");
  }

  @Test
  void medianOfRoundsIgnoresMissingValues() {
    assertThat(BenchSummary.medianOf(List.of(3.0, 1.0, 2.0))).isEqualTo(2.0);
    assertThat(BenchSummary.medianOf(List.of(4.0, 1.0, Double.NaN, 2.0, 3.0))).isEqualTo(2.5);
    assertThat(BenchSummary.medianOf(List.of())).isNaN();
  }
}
