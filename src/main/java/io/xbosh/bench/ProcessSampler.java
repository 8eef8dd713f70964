package io.xbosh.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * CPU of every process in a run, from {@code /proc/<pid>/stat} deltas over one measured phase, and
 * the command rate of every Redis node. {@code --proc NAME=PID} (repeated) names the processes; the
 * generator itself is always added as {@code generator}. {@code --redis-node PORT} (repeated; else
 * {@code --redis-port}) names the Redis nodes whose {@code total_commands_processed} is counted.
 * One row per process and phase goes to {@code --proc-out} (tab-separated, header on a new file),
 * and one row per Redis command and phase (calls and microseconds from {@code INFO commandstats},
 * summed over the nodes, also per 1,000 delivered messages) to {@code commandstats.tsv} beside it.
 *
 * <p>{@code --measure-s W} alone (no {@code --url}) measures W seconds of whatever load other
 * processes make, e.g. idle sessions held by several generators, and with {@code --heap true}
 * also each JVM's heap after a full collection.
 */
final class ProcessSampler {

  static final String HEADER = String.join("\t", "label", "scenario", "sessions", "rate", "process", "pid", "seconds",
      "cpu_s", "cpu_cores", "cpu_s_per_1000_msgs", "rss_mb", "heap_mb", "redis_cmds_per_s", "redis_evalsha_per_s",
      "redis_used_mb", "delivered", "http_requests");

  record Proc(String name, long pid) {
  }

  private final List<Proc> procs;
  private final List<Integer> redisNodes;
  private final Path out;
  private double[] cpuBefore;
  private long commandsBefore;
  private long evalshaBefore;
  private Map<String, long[]> commandStatsBefore = Map.of();
  private long startNanos;

  ProcessSampler(List<Proc> procs, List<Integer> redisNodes, Path out) {
    this.procs = procs;
    this.redisNodes = redisNodes;
    this.out = out;
  }

  /** From the command line; null when neither {@code --proc} nor {@code --proc-out} is given. */
  static ProcessSampler from(Map<String, List<String>> a) {
    if (!a.containsKey("proc") && !a.containsKey("proc-out")) {
      return null;
    }
    List<Proc> procs = new ArrayList<>();
    procs.add(new Proc("generator", ProcessHandle.current().pid()));
    for (String p : a.getOrDefault("proc", List.of())) {
      int eq = p.lastIndexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("--proc wants NAME=PID, got " + p);
      }
      procs.add(new Proc(p.substring(0, eq), Long.parseLong(p.substring(eq + 1))));
    }
    List<Integer> nodes = new ArrayList<>();
    for (String n : a.getOrDefault("redis-node", a.getOrDefault("redis-port", List.of()))) {
      if (Integer.parseInt(n) > 0) {
        nodes.add(Integer.parseInt(n));
      }
    }
    List<String> o = a.get("proc-out");
    return new ProcessSampler(procs, nodes, Path.of(o == null ? "procs.tsv" : o.get(o.size() - 1)));
  }

  void start() throws IOException, InterruptedException {
    cpuBefore = new double[procs.size()];
    for (int i = 0; i < procs.size(); i++) {
      cpuBefore[i] = cpu(procs.get(i).pid());
    }
    commandsBefore = redisTotal("stats", "total_commands_processed");
    evalshaBefore = redisEvalsha();
    commandStatsBefore = redisCommandStats();
    startNanos = System.nanoTime();
  }

  /** Writes one row per process for the phase since {@link #start()}; {@code heap}: force a GC in each JVM and read its heap. */
  void finish(String label, String scenario, int sessions, double rate, long delivered, long httpRequests, boolean heap)
      throws IOException, InterruptedException {
    double seconds = (System.nanoTime() - startNanos) / 1e9;
    double[] cpuAfter = new double[procs.size()];
    for (int i = 0; i < procs.size(); i++) {
      cpuAfter[i] = cpu(procs.get(i).pid());
    }
    // Redis counters after the CPU window: INFO itself is a command on each node, 1-2 per phase
    double commandsPerS = redisNodes.isEmpty() ? -1 : (redisTotal("stats", "total_commands_processed") - commandsBefore) / seconds;
    double evalshaPerS = redisNodes.isEmpty() ? -1 : (redisEvalsha() - evalshaBefore) / seconds;
    double redisUsedMb = redisNodes.isEmpty() ? -1 : redisTotal("memory", "used_memory") / 1048576.0;
    writeCommandStats(label, scenario, sessions, rate, delivered, httpRequests);
    StringBuilder rows = new StringBuilder();
    StringBuilder summary = new StringBuilder(label + " " + scenario + " cpu per process:");
    for (int i = 0; i < procs.size(); i++) {
      Proc p = procs.get(i);
      double used = cpuAfter[i] < 0 || cpuBefore[i] < 0 ? -1 : cpuAfter[i] - cpuBefore[i];
      double perThousand = used < 0 || delivered <= 0 ? -1 : used * 1000.0 / delivered;
      long rss = rss(p.pid());
      double heapMb = heap && isJvm(p.pid()) && p.pid() != ProcessHandle.current().pid()
          ? ProcessStats.heapAfterGcBytes(p.pid()) / 1048576.0 : -1;
      rows.append(String.join("\t", label, scenario, Integer.toString(sessions), Bench.fmt(rate), p.name(),
          Long.toString(p.pid()), Bench.fmt(seconds), f3(used), f3(used / seconds), f3(perThousand),
          Bench.fmt(rss < 0 ? -1 : rss / 1048576.0), Bench.fmt(heapMb), Bench.fmt(commandsPerS), Bench.fmt(evalshaPerS),
          Bench.fmt(redisUsedMb), Long.toString(delivered), Long.toString(httpRequests))).append('\n');
      summary.append(String.format(Locale.ROOT, " %s=%.3fcores", p.name(), used / seconds));
    }
    if (!redisNodes.isEmpty()) {
      summary.append(String.format(Locale.ROOT, " redis=%.0fcmd/s", commandsPerS));
    }
    boolean fresh = !Files.exists(out);
    Files.writeString(out, (fresh ? HEADER + "\n" : "") + rows, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
        StandardOpenOption.APPEND);
    System.out.println(summary);
  }

  /** {@code --measure-s W}: one window over processes that other generators load. */
  static void measureMain(Map<String, List<String>> a, String label, String scenario, int sessions)
      throws IOException, InterruptedException {
    ProcessSampler s = from(a);
    if (s == null) {
      throw new IllegalArgumentException("--measure-s needs --proc NAME=PID or --proc-out");
    }
    long ms = Math.round(Double.parseDouble(a.get("measure-s").get(0)) * 1000);
    s.procs.remove(0); // the measuring JVM only sleeps: not a process under test
    s.start();
    Thread.sleep(ms);
    List<String> heap = a.get("heap");
    s.finish(label, scenario, sessions, 0, 0, 0, heap != null && Boolean.parseBoolean(heap.get(heap.size() - 1)));
  }

  static final String COMMANDS_HEADER = String.join("\t", "label", "scenario", "sessions", "rate", "command", "calls", "usec",
      "calls_per_1000_msgs", "usec_per_1000_msgs", "calls_per_http_request", "usec_per_call", "delivered", "http_requests");

  /** The Redis commands of the phase, one row each, beside {@code --proc-out}. */
  private void writeCommandStats(String label, String scenario, int sessions, double rate, long delivered, long httpRequests)
      throws IOException, InterruptedException {
    if (redisNodes.isEmpty()) {
      return;
    }
    Map<String, long[]> after = redisCommandStats();
    StringBuilder rows = new StringBuilder();
    for (var e : after.entrySet()) {
      long[] before = commandStatsBefore.getOrDefault(e.getKey(), new long[2]);
      long calls = e.getValue()[0] - before[0];
      long usec = e.getValue()[1] - before[1];
      if (calls <= 0) {
        continue;
      }
      rows.append(String.join("\t", label, scenario, Integer.toString(sessions), Bench.fmt(rate), e.getKey(), Long.toString(calls),
          Long.toString(usec), delivered > 0 ? f3(calls * 1000.0 / delivered) : "-1", delivered > 0 ? f3(usec * 1000.0 / delivered) : "-1",
          httpRequests > 0 ? f3((double) calls / httpRequests) : "-1", f3((double) usec / calls), Long.toString(delivered),
          Long.toString(httpRequests))).append('\n');
    }
    Path file = out.resolveSibling("commandstats.tsv");
    boolean fresh = !Files.exists(file);
    Files.writeString(file, (fresh ? COMMANDS_HEADER + "\n" : "") + rows, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
        StandardOpenOption.APPEND);
  }

  private Map<String, long[]> redisCommandStats() throws IOException, InterruptedException {
    Map<String, long[]> sum = new java.util.TreeMap<>();
    for (int port : redisNodes) {
      for (var e : ProcessStats.redisCommandStats(port).entrySet()) {
        long[] s = sum.computeIfAbsent(e.getKey(), k -> new long[2]);
        s[0] += e.getValue()[0];
        s[1] += e.getValue()[1];
      }
    }
    return sum;
  }

  private long redisTotal(String section, String field) throws IOException, InterruptedException {
    long sum = 0;
    for (int port : redisNodes) {
      sum += Math.max(0, ProcessStats.redisInfo(port, section, field));
    }
    return sum;
  }

  /** Session script calls (column redis_evalsha_per_s, named before the scripts became functions: FCALL and EVALSHA). */
  private long redisEvalsha() throws IOException, InterruptedException {
    long sum = 0;
    for (int port : redisNodes) {
      sum += ProcessStats.redisScriptCalls(port);
    }
    return sum;
  }

  private static double cpu(long pid) {
    try {
      return ProcessStats.cpuSeconds(pid);
    } catch (IOException | RuntimeException e) {
      return -1; // the process has gone
    }
  }

  private static long rss(long pid) {
    try {
      return ProcessStats.rssBytes(pid);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  private static boolean isJvm(long pid) {
    try {
      return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8)
          .contains("java");
    } catch (IOException e) {
      return false;
    }
  }

  private static String f3(double v) {
    return String.format(Locale.ROOT, "%.3f", v);
  }
}
