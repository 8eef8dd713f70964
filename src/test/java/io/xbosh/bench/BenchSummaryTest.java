package io.xbosh.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchSummaryTest {

  private static final String LOGINS_HEADER = "label\tsessions\tnew_sessions\tfailed\tseconds\tlogins_per_s\tprocess\tcpu_s"
      + "\tcpu_ms_per_login\tloadavg_before\tloadavg_after\n";

  @Test
  void loginsOfAStepAreSummedByKindOfProcess(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("logins.tsv"), LOGINS_HEADER
        + "cluster-pods\t40000\t39990\t10\t400.0\t100.0\txbosh-pod1\t40.00\t1.000\t3.1 2.0 1.0\t9.9 8.0 4.0\n"
        + "cluster-pods\t40000\t39990\t10\t400.0\t100.0\txbosh-pod2\t60.00\t1.500\t3.1 2.0 1.0\t9.9 8.0 4.0\n"
        + "cluster-pods\t40000\t39990\t10\t400.0\t100.0\tredis-shard1\t8.00\t0.200\t3.1 2.0 1.0\t9.9 8.0 4.0\n"
        + "cluster-pods\t40000\t39990\t10\t400.0\t100.0\tprosody-1\t20.00\t0.500\t3.1 2.0 1.0\t9.9 8.0 4.0\n"
        + "cluster-pods\t40000\t39990\t10\t400.0\t100.0\tgenerator-p10g0\t16.00\t0.400\t3.1 2.0 1.0\t9.9 8.0 4.0\n");
    StringBuilder md = new StringBuilder();
    BenchSummary.logins(BenchSummary.Table.read(dir.resolve("logins.tsv")), md);
    assertThat(md.toString()).contains(
        "| cluster-pods | 40,000 | 39,990 | 10 | 400 | 100.0 | 2.50 | 0.20 | 0.50 | 0.40 | 3.60 | 3.1 2.0 1.0 → 9.9 8.0 4.0 |");
  }

  @Test
  void noLoginsNoTable(@TempDir Path dir) throws Exception {
    StringBuilder md = new StringBuilder();
    BenchSummary.logins(BenchSummary.Table.read(dir.resolve("logins.tsv")), md);
    assertThat(md).isEmpty();
  }

  @Test
  void idleScaleRowsPerSessionAgainstTheEmptyStep(@TempDir Path dir) throws Exception {
    String head = ProcessSampler.HEADER + "\n";
    Files.writeString(dir.resolve("procs.tsv"), head
        + row("0", "xbosh-pod1", "0.010", "100.00", "10.00", "10.00", "1.00", "2.00")
        + row("0", "prosody", "0.000", "20.00", "-1.00", "10.00", "1.00", "2.00")
        + row("1000", "xbosh-pod1", "0.020", "200.00", "30.00", "400.00", "18.00", "4.00")
        + row("1000", "prosody", "0.001", "120.00", "-1.00", "400.00", "18.00", "4.00")
        + row("1000", "redis-server", "0.004", "10.00", "-1.00", "400.00", "18.00", "4.00"));
    StringBuilder md = new StringBuilder();
    Path png = dir.resolve("idle-scale.png");
    BenchSummary.idleScale(BenchSummary.Table.read(dir.resolve("procs.tsv")), md, png);
    // heap (30 - 10) MB over 1,000 sessions: 20.5 KiB; RSS (200 - 100) MB: 102.4 KiB; Redis 2 MB: 2097 B
    assertThat(md.toString()).contains(
        "| one-pod | 1,000 | 400 | 18 | 0.004 | 0.020 | 0.001 | 0.000 | 120 | 30 | 20.5 KiB | 200 | 102.4 KiB | 4.0 | 2097 B |");
    assertThat(Files.size(png)).isPositive();
  }

  private static String row(String sessions, String process, String cores, String rss, String heap, String cmds, String evalsha,
      String redisMb) {
    return String.join("\t", "one-pod", "idle-scale", sessions, "0.00", process, "1", "20.00", "0.1", cores, "-1.000", rss, heap,
        cmds, evalsha, redisMb, "0", "0") + "\n";
  }
}
