package io.xbosh.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What the benchmark reads about the processes under test: CPU time, RSS, JVM heap, Redis. Blocking: call it off the event loop. */
final class ProcessStats {

  private ProcessStats() {
  }

  /** User + system CPU time of a process, in seconds (Linux /proc). */
  static double cpuSeconds(long pid) throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
    return ticks / 100.0;
  }

  /**
   * Context switches of every live thread of a process, by thread ({@code tid:name} to
   * {@code {voluntary, involuntary, cpu ticks}}), from {@code /proc/<pid>/task/*}: a voluntary one is
   * a thread going to sleep (waiting for a socket, a queue, a lock), an involuntary one a thread
   * taken off its core. Threads that ended are not counted.
   */
  static java.util.Map<String, long[]> threadSwitches(long pid) throws IOException {
    java.util.Map<String, long[]> out = new java.util.TreeMap<>();
    Path tasks = Path.of("/proc", Long.toString(pid), "task");
    try (java.util.stream.Stream<Path> s = Files.list(tasks)) {
      for (Path task : s.toList()) {
        try {
          long vol = 0;
          long invol = 0;
          for (String line : Files.readAllLines(task.resolve("status"))) {
            if (line.startsWith("voluntary_ctxt_switches:")) {
              vol = Long.parseLong(line.replaceAll("\\D", ""));
            } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
              invol = Long.parseLong(line.replaceAll("\\D", ""));
            }
          }
          String stat = Files.readString(task.resolve("stat"));
          String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
          String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
          long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
          out.put(task.getFileName() + ":" + name, new long[] {vol, invol, ticks});
        } catch (IOException e) {
          // the thread ended while being read (ENOENT, ESRCH)
        }
      }
    }
    return out;
  }

  /** Resident set size in bytes. */
  static long rssBytes(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
      }
    }
    return -1;
  }

  /** Heap in use after a full collection, in bytes, through {@code jcmd}; -1 when not a JVM. */
  static long heapAfterGcBytes(long pid) throws IOException, InterruptedException {
    // jcmd's attach signals the process (SIGQUIT), which ends one that is not a JVM (node)
    boolean jvm = ProcessHandle.of(pid).flatMap(h -> h.info().command()).map(c -> c.endsWith("/java")).orElse(false);
    if (!jvm) {
      return -1;
    }
    String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
    run(List.of(jcmd, Long.toString(pid), "GC.run"));
    String info = run(List.of(jcmd, Long.toString(pid), "GC.heap_info"));
    // e.g. " garbage-first heap   total 262144K, used 23456K [..." or "def new generation ... used 123K"
    Matcher m = Pattern.compile("heap\\s+total \\d+K, used (\\d+)K").matcher(info);
    if (m.find()) {
      return Long.parseLong(m.group(1)) * 1024;
    }
    long used = 0;
    Matcher gens = Pattern.compile("(?:generation|space)\\s+total \\d+K, used (\\d+)K").matcher(info);
    boolean any = false;
    while (gens.find()) {
      used += Long.parseLong(gens.group(1));
      any = true;
    }
    return any ? used * 1024 : -1;
  }

  /** {@code jcmd GC.class_histogram} (live objects: it collects first). */
  static String classHistogram(long pid) throws IOException, InterruptedException {
    String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
    return run(List.of(jcmd, Long.toString(pid), "GC.class_histogram"));
  }

  /**
   * {@code MEMORY USAGE} (all samples) of up to {@code n} session hashes and their outbound lists,
   * with each hash's encoding and field count: median, min and max bytes per session.
   */
  static String redisSessionSample(int port, int n) throws IOException, InterruptedException {
    String cli = "redis-cli";
    String p = Integer.toString(port);
    List<String> keys = run(List.of(cli, "-p", p, "--scan", "--pattern", "xb:{*}")).lines()
        .filter(k -> k.endsWith("}") && !k.equals("xb:{pods}")).limit(n).toList();
    List<Long> totals = new java.util.ArrayList<>();
    StringBuilder detail = new StringBuilder();
    for (String k : keys) {
      long total = 0;
      for (String key : List.of(k, k + ":o", k + ":i")) {
        String v = run(List.of(cli, "-p", p, "memory", "usage", key, "samples", "0")).trim();
        total += v.matches("\\d+") ? Long.parseLong(v) : 0;
      }
      totals.add(total);
      if (detail.isEmpty()) {
        detail.append(" e.g. ").append(k).append(": ")
            .append(run(List.of(cli, "-p", p, "object", "encoding", k)).trim()).append(", ")
            .append(run(List.of(cli, "-p", p, "hlen", k)).trim()).append(" fields (name=value bytes):");
        List<String> fields = run(List.of(cli, "-p", p, "hkeys", k)).lines().toList();
        for (String f : fields) {
          detail.append(' ').append(f).append('=').append(run(List.of(cli, "-p", p, "hstrlen", k, f)).trim());
        }
      }
    }
    if (totals.isEmpty()) {
      return "no session keys";
    }
    java.util.Collections.sort(totals);
    return "median " + totals.get(totals.size() / 2) + " B, min " + totals.get(0) + " B, max "
        + totals.get(totals.size() - 1) + " B over " + totals.size() + " sessions;" + detail;
  }

  /** A field of Redis {@code INFO}, e.g. {@code used_memory}. */
  static long redisInfo(int port, String section, String field) throws IOException, InterruptedException {
    String info = run(List.of("redis-cli", "-p", Integer.toString(port), "info", section));
    Matcher m = Pattern.compile("^" + Pattern.quote(field) + "[:=](\\d+)", Pattern.MULTILINE).matcher(info);
    return m.find() ? Long.parseLong(m.group(1)) : -1;
  }

  /** Calls of one command from Redis {@code INFO commandstats}. */
  static long redisCalls(int port, String command) throws IOException, InterruptedException {
    String info = run(List.of("redis-cli", "-p", Integer.toString(port), "info", "commandstats"));
    Matcher m = Pattern.compile("cmdstat_" + Pattern.quote(command) + ":calls=(\\d+)").matcher(info);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }

  /** Session script calls: {@code FCALL}s, and {@code EVALSHA}s on a Redis without functions (or a build before them). */
  static long redisScriptCalls(int port) throws IOException, InterruptedException {
    java.util.Map<String, Long> calls = redisCommandCalls(port);
    return calls.getOrDefault("fcall", 0L) + calls.getOrDefault("evalsha", 0L);
  }

  /** Calls of every command from Redis {@code INFO commandstats}, by command name. */
  static java.util.Map<String, Long> redisCommandCalls(int port) throws IOException, InterruptedException {
    String info = run(List.of("redis-cli", "-p", Integer.toString(port), "info", "commandstats"));
    java.util.Map<String, Long> calls = new java.util.TreeMap<>();
    Matcher m = Pattern.compile("cmdstat_([^:]+):calls=(\\d+)").matcher(info);
    while (m.find()) {
      calls.put(m.group(1), Long.parseLong(m.group(2)));
    }
    return calls;
  }

  /**
   * Calls and microseconds of every command from Redis {@code INFO commandstats}, by command name
   * ({@code {calls, usec}}); commands a script calls count under their own names, and inside the
   * script's {@code evalsha} time too.
   */
  static java.util.Map<String, long[]> redisCommandStats(int port) throws IOException, InterruptedException {
    String info = run(List.of("redis-cli", "-p", Integer.toString(port), "info", "commandstats"));
    java.util.Map<String, long[]> stats = new java.util.TreeMap<>();
    Matcher m = Pattern.compile("cmdstat_([^:]+):calls=(\\d+),usec=(\\d+)").matcher(info);
    while (m.find()) {
      stats.put(m.group(1), new long[] {Long.parseLong(m.group(2)), Long.parseLong(m.group(3))});
    }
    return stats;
  }

  private static String run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(60, TimeUnit.SECONDS);
    return out;
  }
}
