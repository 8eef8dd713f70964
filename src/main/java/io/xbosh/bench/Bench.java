package io.xbosh.bench;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The load generator's command line:
 *
 * <pre>
 * java -cp target/xbosh.jar io.xbosh.bench.Bench --url http://127.0.0.1:5280/http-bind [--url …]
 *     --scenario idle|chat|burst --sessions N [--rate R] [--rates 50,100,200] [--duration-s D]
 *     [--domain localhost] [--user-prefix u] [--password pw] [--pid P …] [--redis-port P]
 *     [--label L] [--out results.tsv] [--wait S] [--redis-pid P] [--idle-out idle.tsv]
 *     [--framing rfc7395|stream-header] [--h2c CONNECTIONS] [--login-retries 0] [--login-retry-ms 1000]
 *     [--proc NAME=PID …] [--redis-node PORT …] [--proc-out procs.tsv] [--max-p99-ms 1000] [--max-errors -1]
 * java -cp target/xbosh.jar io.xbosh.bench.Bench --measure-s W --proc NAME=PID … [--redis-node PORT …]
 *     [--heap true] [--label L] [--scenario S] [--sessions N] [--proc-out procs.tsv]
 * java -cp target/xbosh.jar io.xbosh.bench.Bench --scenario cold --url … [--ready-url http://…/ready]
 *     [--users 200] [--rate 50] [--round-trips 10] [--messages 5] [--first-minute-s 60] [--warm-waves 1]
 *     [--proc name=pid …] [--label L] [--out cold.tsv] [--threads-out cold-threads.tsv]
 * java -cp target/xbosh.jar io.xbosh.bench.Bench --plot results.tsv --png latency.png
 * </pre>
 *
 * Each measured phase appends one row to {@code --out} (tab-separated, header on a new file) and
 * prints a summary. {@code ws://} URLs make the clients speak XMPP over WebSocket ({@code --framing
 * stream-header}: the pre-RFC draft that node-xmpp-bosh speaks). {@code --h2c N} sends every BOSH
 * request over HTTP/2 without TLS (prior knowledge) on N connections per server, as a load balancer
 * with {@code proto h2} does; without it each request in flight has an HTTP/1.1 connection. {@code --pid} names processes under test (CPU, RSS; heap for JVMs);
 * {@code --redis-port} the Redis whose memory and script calls are counted. The idle scenario
 * also counts every Redis command over the held phase and the CPU of each {@code --pid} and of
 * {@code --redis-pid}, and appends one row to {@code --idle-out} (the idle cost); on a Redis
 * Cluster, {@code --redis-port} and {@code --redis-pid} name every node and the commands of all are counted.
 * {@code --proc} adds one row per process (the generator included) and phase to {@code --proc-out}:
 * CPU seconds, cores, CPU seconds per 1,000 delivered messages, RSS, Redis commands/s
 * ({@link ProcessSampler}). A burst ends at the first rate whose p99 passes {@code --max-p99-ms},
 * that loses a message, or (with {@code --max-errors} ≥ 0) that has more errors. {@code --login-retries N}:
 * a client whose login fails logs in again with a new session after {@code --login-retry-ms}, up to N times.
 *
 * <p>{@code cold}: waits until {@code --ready-url} answers 200 (a pod just started), then at once
 * runs waves of arriving users ({@link ArrivalLoad}) back to back for {@code --first-minute-s},
 * then {@code --warm-waves} more; one row for the first wave, one for the whole first minute, one
 * for the warm waves, each with login and per-request latency and the CPU of every {@code --proc}
 * (and of the generator itself) over that phase, and the context switches of each per user
 * ({@code voluntary+involuntary}, every thread of the process). {@code --threads-out} adds one row
 * per thread of every {@code --proc} for the warm phase: its context switches and CPU ticks.
 */
public final class Bench {

  static final String HEADER = String.join("\t", "label", "scenario", "sessions", "rate", "sent", "received", "lost",
      "duplicated", "p50_ms", "p95_ms", "p99_ms", "max_ms", "delivered_per_s", "http_requests", "cpu_cores",
      "rss_mb", "heap_per_session_b", "redis_per_session_b", "redis_scripts_per_request", "redis_scripts_per_message",
      "errors");

  private Bench() {
  }

  public static void main(String[] args) throws Exception {
    Map<String, List<String>> a = parse(args);
    if (a.containsKey("plot")) {
      LatencyPlot.write(Path.of(one(a, "plot", null)), Path.of(one(a, "png", "latency.png")));
      return;
    }
    if (a.containsKey("measure-s")) {
      ProcessSampler.measureMain(a, one(a, "label", "measure"), one(a, "scenario", "idle"),
          Integer.parseInt(one(a, "sessions", "0")));
      return;
    }
    List<URI> urls = a.getOrDefault("url", List.of()).stream().map(URI::create).toList();
    if (urls.isEmpty()) {
      System.err.println("--url is required (repeat it for round robin)");
      System.exit(2);
    }
    String scenario = one(a, "scenario", "chat");
    if (scenario.equals("cold")) {
      cold(a, urls);
      return;
    }
    int sessions = Integer.parseInt(one(a, "sessions", "100"));
    LoadGenerator.Options options = new LoadGenerator.Options(urls, one(a, "domain", "localhost"), sessions,
        one(a, "user-prefix", "u"), one(a, "password", "pw"), Integer.parseInt(one(a, "wait", "60")),
        Integer.parseInt(one(a, "login-concurrency", "50")),
        "stream-header".equals(one(a, "framing", "rfc7395")) ? LoadGenerator.WsFraming.STREAM_HEADER : LoadGenerator.WsFraming.RFC7395,
        Integer.parseInt(one(a, "h2c", "0")));
    List<Long> pids = a.getOrDefault("pid", List.of()).stream().map(Long::parseLong).toList();
    int redisPort = Integer.parseInt(one(a, "redis-port", "0"));
    // a Redis Cluster: every node's port (the commands of all of them are counted; memory is the first's)
    List<Integer> redisPorts = a.getOrDefault("redis-port", List.of()).stream().map(Integer::parseInt).toList();
    long durationMs = Long.parseLong(one(a, "duration-s", "30")) * 1000;
    String label = one(a, "label", urls.get(0).getHost() + ":" + urls.get(0).getPort());
    Path out = Path.of(one(a, "out", "bench-results.tsv"));
    ProcessSampler procs = ProcessSampler.from(a);
    long maxP99Us = Math.round(Double.parseDouble(one(a, "max-p99-ms", "1000")) * 1000);
    long maxErrors = Long.parseLong(one(a, "max-errors", "-1"));

    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    LoadGenerator gen = new LoadGenerator(vertx, options);
    try {
      long heapBefore = pids.isEmpty() ? -1 : ProcessStats.heapAfterGcBytes(pids.get(0));
      long redisBefore = redisPort > 0 ? ProcessStats.redisInfo(redisPort, "memory", "used_memory") : -1;
      await(gen.login(Integer.parseInt(one(a, "login-retries", "0")), Long.parseLong(one(a, "login-retry-ms", "1000"))));
      System.out.println(label + " logged in: " + gen.loginSummary());
      switch (scenario) {
        case "idle" -> {
          // measured at the end of the hold: every session has then long-polled for a while (with
          // --wait shorter than the hold, each has had an empty poll answered and sent the next),
          // which is the state an idle session stays in
          IdleCost cost = IdleCost.start(pids, a.getOrDefault("redis-pid", List.of()).stream().map(Long::parseLong).toList(), redisPorts);
          Measure m = Measure.start(pids, redisPort);
          startProcs(procs);
          LoadGenerator.Result r = await(gen.phase(0, durationMs, 0));
          finishProcs(procs, label, scenario, 0, r);
          cost.finish(a.containsKey("idle-out") ? Path.of(one(a, "idle-out", null)) : null, label, sessions - r.failedLogins(),
              options.waitSeconds(), durationMs, r.httpRequests());
          int live = Math.max(1, sessions - r.failedLogins());
          long heapAfter = pids.isEmpty() ? -1 : ProcessStats.heapAfterGcBytes(pids.get(0));
          long redisAfter = redisPort > 0 ? ProcessStats.redisInfo(redisPort, "memory", "used_memory") : -1;
          long heapPer = heapBefore < 0 || heapAfter < 0 ? -1 : (heapAfter - heapBefore) / live;
          long redisPer = redisBefore < 0 ? -1 : (redisAfter - redisBefore) / live;
          if (a.containsKey("histogram") && !pids.isEmpty()) {
            Files.writeString(Path.of(one(a, "histogram", null)), ProcessStats.classHistogram(pids.get(0)));
          }
          if (redisPort > 0) {
            System.out.println(label + " idle: Redis MEMORY USAGE of sampled sessions: " + ProcessStats.redisSessionSample(redisPort, 20));
          }
          report(out, label, scenario, 0, r, m.finish(durationMs, r), heapPer, redisPer);
        }
        case "chat" -> {
          double rate = Double.parseDouble(one(a, "rate", "100"));
          Measure m = Measure.start(pids, redisPort);
          startProcs(procs);
          LoadGenerator.Result r = await(gen.phase(rate, durationMs, 15_000));
          finishProcs(procs, label, scenario, rate, r);
          report(out, label, scenario, rate, r, m.finish(durationMs, r), -1, -1);
        }
        case "burst" -> {
          // rates in turn until p99 passes one second (or messages are lost)
          for (String step : one(a, "rates", "50,100,200,400,800").split(",")) {
            double rate = Double.parseDouble(step);
            Measure m = Measure.start(pids, redisPort);
            startProcs(procs);
            LoadGenerator.Result r = await(gen.phase(rate, durationMs, 15_000));
            finishProcs(procs, label, scenario, rate, r);
            report(out, label, scenario, rate, r, m.finish(durationMs, r), -1, -1);
            long errorCount = r.errors().values().stream().mapToLong(Long::longValue).sum();
            if (r.p99() > maxP99Us || r.lost() > 0 || (maxErrors >= 0 && errorCount > maxErrors)) {
              break;
            }
          }
        }
        default -> throw new IllegalArgumentException("unknown scenario " + scenario);
      }
    } finally {
      await(gen.close());
      await(vertx.close());
    }
  }

  private static void startProcs(ProcessSampler procs) throws IOException, InterruptedException {
    if (procs != null) {
      procs.start();
    }
  }

  private static void finishProcs(ProcessSampler procs, String label, String scenario, double rate, LoadGenerator.Result r)
      throws IOException, InterruptedException {
    if (procs != null) {
      procs.finish(label, scenario, r.sessions() - r.failedLogins(), rate, r.received(), r.httpRequests(), false);
    }
  }

  /**
   * What idle sessions cost over the held phase: every Redis command (INFO commandstats) and the CPU
   * of each process under test and of redis-server.
   */
  private record IdleCost(List<Long> pids, List<Long> redisPids, List<Integer> redisPorts, long startNanos, double[] cpuBefore,
      Map<String, Long> callsBefore) {

    /** Every command's calls, summed over the nodes. */
    static Map<String, Long> calls(List<Integer> ports) throws IOException, InterruptedException {
      Map<String, Long> sum = new java.util.TreeMap<>();
      for (int port : ports) {
        ProcessStats.redisCommandCalls(port).forEach((k, v) -> sum.merge(k, v, Long::sum));
      }
      return sum;
    }

    static IdleCost start(List<Long> pids, List<Long> redisPids, List<Integer> redisPorts) throws IOException, InterruptedException {
      List<Long> all = new ArrayList<>(pids);
      all.addAll(redisPids);
      double[] cpu = new double[all.size()];
      for (int i = 0; i < cpu.length; i++) {
        cpu[i] = ProcessStats.cpuSeconds(all.get(i));
      }
      return new IdleCost(pids, redisPids, redisPorts, System.nanoTime(), cpu, calls(redisPorts));
    }

    void finish(Path out, String label, int sessions, int wait, long durationMs, long httpRequests)
        throws IOException, InterruptedException {
      double seconds = (System.nanoTime() - startNanos) / 1e9;
      List<Long> all = new ArrayList<>(pids);
      all.addAll(redisPids);
      double xbosh = 0;
      double redisCpu = 0;
      for (int i = 0; i < all.size(); i++) {
        double used = (ProcessStats.cpuSeconds(all.get(i)) - cpuBefore[i]) / seconds;
        if (i < pids.size()) {
          xbosh += used;
        } else {
          redisCpu += used;
        }
      }
      Map<String, Long> after = calls(redisPorts);
      long total = 0;
      StringBuilder by = new StringBuilder();
      for (Map.Entry<String, Long> e : after.entrySet()) {
        long n = e.getValue() - callsBefore.getOrDefault(e.getKey(), 0L);
        // the benchmark's own INFO calls are not xbosh's
        if (n > 0 && !e.getKey().equals("info")) {
          total += n;
          by.append(by.length() == 0 ? "" : " ").append(e.getKey()).append('=').append(fmt(n / seconds));
        }
      }
      String row = String.join("\t", label, Integer.toString(sessions), Integer.toString(wait), fmt(seconds),
          fmt(httpRequests / seconds), fmt(total / seconds), fmt(xbosh), fmt(redisCpu), by.length() == 0 ? "-" : by.toString());
      System.out.println("idle-cost " + row.replace('\t', ' '));
      if (out != null) {
        boolean fresh = !Files.exists(out);
        Files.writeString(out, (fresh ? "label\tsessions\twait_s\tseconds\thttp_per_s\tredis_cmds_per_s\txbosh_cpu_cores\tredis_cpu_cores\tby_command\n" : "")
            + row + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      }
    }
  }

  /** CPU and Redis counters over one phase. */
  private record Measure(List<Long> pids, int redisPort, double cpuBefore, long scriptsBefore) {

    static Measure start(List<Long> pids, int redisPort) throws IOException, InterruptedException {
      double cpu = 0;
      for (long pid : pids) {
        cpu += ProcessStats.cpuSeconds(pid);
      }
      return new Measure(pids, redisPort, cpu, redisPort > 0 ? ProcessStats.redisScriptCalls(redisPort) : 0);
    }

    /** {cpu cores used, RSS MB of the first pid, scripts per HTTP request, scripts per delivered message} */
    double[] finish(long durationMs, LoadGenerator.Result r) throws IOException, InterruptedException {
      double cpu = 0;
      for (long pid : pids) {
        cpu += ProcessStats.cpuSeconds(pid);
      }
      double cores = pids.isEmpty() ? -1 : (cpu - cpuBefore) / (durationMs / 1000.0);
      double rss = pids.isEmpty() ? -1 : ProcessStats.rssBytes(pids.get(0)) / 1048576.0;
      double perRequest = -1;
      double perMessage = -1;
      if (redisPort > 0) {
        long scripts = ProcessStats.redisScriptCalls(redisPort) - scriptsBefore;
        perRequest = scripts / (double) Math.max(1, r.httpRequests());
        perMessage = scripts / (double) Math.max(1, r.received());
      }
      return new double[] {cores, rss, perRequest, perMessage};
    }
  }

  private static void report(Path out, String label, String scenario, double rate, LoadGenerator.Result r, double[] m,
      long heapPerSession, long redisPerSession) throws IOException {
    String row = String.join("\t", label, scenario, Integer.toString(r.sessions() - r.failedLogins()), fmt(rate),
        Long.toString(r.sent()), Long.toString(r.received()), Long.toString(r.lost()), Long.toString(r.duplicated()),
        fmt(r.p50() / 1000.0), fmt(r.p95() / 1000.0), fmt(r.p99() / 1000.0), fmt(r.max() / 1000.0),
        fmt(r.deliveredPerSecond()), Long.toString(r.httpRequests()), fmt(m[0]), fmt(m[1]), Long.toString(heapPerSession),
        Long.toString(redisPerSession), fmt(m[2]), fmt(m[3]), r.errors().isEmpty() ? "-" : r.errors().toString().replace('\t', ' '));
    boolean fresh = !Files.exists(out);
    Files.writeString(out, (fresh ? HEADER + "\n" : "") + row + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    System.out.println(label + " " + scenario + " rate=" + fmt(rate) + ": " + r.summary()
        + String.format(Locale.ROOT, " cpu=%.2f cores rss=%.0fMB heap/session=%dB redis/session=%dB scripts/request=%.2f scripts/message=%.2f",
            m[0], m[1], heapPerSession, redisPerSession, m[2], m[3]));
  }

  static final String COLD_HEADER = String.join("\t", "label", "phase", "waves", "users", "failed", "login_mean_ms", "login_p50_ms",
      "login_p99_ms", "request_mean_ms", "request_p50_ms", "request_p99_ms", "requests", "message_p50_ms", "message_p99_ms", "sent",
      "received", "seconds", "ready_after_ms", "cpu_cores", "loadavg", "errors", "switches_per_user");

  private static void cold(Map<String, List<String>> a, List<URI> urls) throws Exception {
    ArrivalLoad.Options options = new ArrivalLoad.Options(urls, one(a, "domain", "localhost"), one(a, "user-prefix", "u"),
        one(a, "password", "pw"), Integer.parseInt(one(a, "users", "200")), Double.parseDouble(one(a, "rate", "50")),
        Integer.parseInt(one(a, "round-trips", "10")), Integer.parseInt(one(a, "messages", "5")),
        Long.parseLong(one(a, "message-gap-ms", "200")));
    Map<String, Long> procs = new java.util.LinkedHashMap<>();
    procs.put("generator", ProcessHandle.current().pid());
    for (String p : a.getOrDefault("proc", List.of())) {
      int eq = p.indexOf('=');
      procs.put(p.substring(0, eq), Long.parseLong(p.substring(eq + 1)));
    }
    long firstMinuteMs = Long.parseLong(one(a, "first-minute-s", "60")) * 1000;
    int warmWaves = Integer.parseInt(one(a, "warm-waves", "1"));
    String label = one(a, "label", urls.get(0).getHost() + ":" + urls.get(0).getPort());
    Path out = Path.of(one(a, "out", "cold-results.tsv"));
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    ArrivalLoad load = new ArrivalLoad(vertx, options);
    try {
      long readyAfter = -1;
      String readyUrl = one(a, "ready-url", "");
      if (!readyUrl.isEmpty()) {
        readyAfter = await(waitReady(vertx, readyUrl));
      }
      long t0 = System.nanoTime();
      int wave = 0;
      double[] cpu = cpu(procs);
      List<Map<String, long[]>> sw = switches(procs);
      ArrivalLoad.Result first = await(load.wave(wave++));
      double[] cpuFirst = cpu(procs);
      List<Map<String, long[]>> swFirst = switches(procs);
      coldRow(out, label, "first-wave", 1, first, readyAfter, procs, cpu, cpuFirst, sw, swFirst);
      ArrivalLoad.Result minute = new ArrivalLoad.Result();
      minute.add(first);
      int minuteWaves = 1;
      while ((System.nanoTime() - t0) / 1_000_000 < firstMinuteMs) {
        minute.add(await(load.wave(wave++)));
        minuteWaves++;
      }
      double[] cpuMinute = cpu(procs);
      List<Map<String, long[]>> swMinute = switches(procs);
      coldRow(out, label, "first-minute", minuteWaves, minute, readyAfter, procs, cpu, cpuMinute, sw, swMinute);
      ArrivalLoad.Result warm = new ArrivalLoad.Result();
      for (int i = 0; i < warmWaves; i++) {
        warm.add(await(load.wave(wave++)));
      }
      List<Map<String, long[]>> swWarm = switches(procs);
      coldRow(out, label, "warm", warmWaves, warm, readyAfter, procs, cpuMinute, cpu(procs), swMinute, swWarm);
      String threadsOut = one(a, "threads-out", "");
      if (!threadsOut.isEmpty()) {
        threadRows(Path.of(threadsOut), label, warm.users, procs, swMinute, swWarm);
      }
    } finally {
      await(load.close());
      await(vertx.close());
    }
  }

  /** Milliseconds until the URL answers 200, polled every 10 ms. */
  private static Future<Long> waitReady(Vertx vertx, String url) {
    io.vertx.core.http.HttpClient client = vertx.createHttpClient();
    long start = System.nanoTime();
    io.vertx.core.Promise<Long> ready = io.vertx.core.Promise.promise();
    vertx.setPeriodic(10, t -> client.request(new io.vertx.core.http.RequestOptions().setAbsoluteURI(url))
        .compose(req -> req.send().compose(res -> res.body().map(b -> res.statusCode())))
        .onSuccess(status -> {
          if (status == 200 && ready.tryComplete((System.nanoTime() - start) / 1_000_000)) {
            vertx.cancelTimer(t);
          }
        }));
    return ready.future().eventually(client::close);
  }

  private static double[] cpu(Map<String, Long> procs) throws IOException {
    double[] out = new double[procs.size() + 1];
    int i = 0;
    for (long pid : procs.values()) {
      out[i++] = ProcessStats.cpuSeconds(pid);
    }
    out[i] = System.nanoTime() / 1e9;
    return out;
  }

  /** Every thread's context switches and CPU ticks, per process of {@code procs}, in their order. */
  private static List<Map<String, long[]>> switches(Map<String, Long> procs) throws IOException {
    List<Map<String, long[]>> out = new ArrayList<>();
    for (long pid : procs.values()) {
      out.add(ProcessStats.threadSwitches(pid));
    }
    return out;
  }

  /** {@code {voluntary, involuntary, ticks}} between two snapshots of one process, over the threads alive at the end. */
  private static Map<String, long[]> switchDelta(Map<String, long[]> start, Map<String, long[]> end) {
    Map<String, long[]> d = new java.util.TreeMap<>();
    end.forEach((thread, e) -> {
      long[] s = start.getOrDefault(thread, new long[3]);
      d.put(thread, new long[] {e[0] - s[0], e[1] - s[1], e[2] - s[2]});
    });
    return d;
  }

  private static void threadRows(Path out, String label, int users, Map<String, Long> procs, List<Map<String, long[]>> start,
      List<Map<String, long[]>> end) throws IOException {
    StringBuilder rows = new StringBuilder();
    if (!Files.exists(out)) {
      rows.append("label\tprocess\tthread\tusers\tvoluntary\tinvoluntary\tcpu_ticks\n");
    }
    int i = 0;
    for (String name : procs.keySet()) {
      for (Map.Entry<String, long[]> t : switchDelta(start.get(i), end.get(i)).entrySet()) {
        long[] v = t.getValue();
        if (v[0] + v[1] + v[2] > 0) {
          rows.append(String.join("\t", label, name, t.getKey(), Integer.toString(users), Long.toString(v[0]), Long.toString(v[1]),
              Long.toString(v[2]))).append('\n');
        }
      }
      i++;
    }
    Files.writeString(out, rows, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  private static void coldRow(Path out, String label, String phase, int waves, ArrivalLoad.Result r, long readyAfter,
      Map<String, Long> procs, double[] cpuStart, double[] cpuEnd, List<Map<String, long[]>> swStart,
      List<Map<String, long[]>> swEnd) throws IOException {
    StringBuilder switches = new StringBuilder();
    int k = 0;
    for (String name : procs.keySet()) {
      long vol = 0;
      long invol = 0;
      for (long[] v : switchDelta(swStart.get(k), swEnd.get(k)).values()) {
        vol += v[0];
        invol += v[1];
      }
      int users = Math.max(1, r.users);
      switches.append(switches.length() == 0 ? "" : ",").append(name).append('=').append(fmt((double) vol / users)).append('+')
          .append(fmt((double) invol / users));
      k++;
    }
    double seconds = cpuEnd[cpuEnd.length - 1] - cpuStart[cpuStart.length - 1];
    StringBuilder cpu = new StringBuilder();
    int i = 0;
    for (String name : procs.keySet()) {
      cpu.append(cpu.length() == 0 ? "" : ",").append(name).append('=').append(fmt((cpuEnd[i] - cpuStart[i]) / seconds));
      i++;
    }
    String load = Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
    String row = String.join("\t", label, phase, Integer.toString(waves), Integer.toString(r.users), Integer.toString(r.failed),
        fmt(r.login.mean() / 1000.0), fmt(r.login.percentile(50) / 1000.0), fmt(r.login.percentile(99) / 1000.0),
        fmt(r.request.mean() / 1000.0), fmt(r.request.percentile(50) / 1000.0), fmt(r.request.percentile(99) / 1000.0),
        Integer.toString(r.request.count()), fmt(r.message.percentile(50) / 1000.0), fmt(r.message.percentile(99) / 1000.0),
        Long.toString(r.sent), Long.toString(r.received), fmt(seconds), Long.toString(readyAfter), cpu.toString(), load,
        r.errors.isEmpty() ? "-" : r.errors.toString().replace('\t', ' '), switches.toString());
    boolean fresh = !Files.exists(out);
    Files.writeString(out, (fresh ? COLD_HEADER + "\n" : "") + row + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    System.out.printf(Locale.ROOT, "%s %s waves=%d users=%d failed=%d login mean/p50/p99 %.1f/%.1f/%.1f ms, request mean/p50/p99 "
            + "%.1f/%.1f/%.1f ms (%d), message p50/p99 %.1f/%.1f ms, sent=%d received=%d, %.1f s, ready after %d ms, cpu %s, switches per user %s, load %s%s%n",
        label, phase, waves, r.users, r.failed, r.login.mean() / 1000.0, r.login.percentile(50) / 1000.0, r.login.percentile(99) / 1000.0,
        r.request.mean() / 1000.0, r.request.percentile(50) / 1000.0, r.request.percentile(99) / 1000.0, r.request.count(),
        r.message.percentile(50) / 1000.0, r.message.percentile(99) / 1000.0, r.sent, r.received, seconds, readyAfter, cpu, switches, load,
        r.errors.isEmpty() ? "" : " errors " + r.errors);
  }

  static String fmt(double v) {
    return String.format(Locale.ROOT, "%.2f", v);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.MINUTES);
  }

  private static String one(Map<String, List<String>> a, String key, String dflt) {
    List<String> v = a.get(key);
    if (v == null || v.isEmpty()) {
      if (dflt == null) {
        throw new IllegalArgumentException("--" + key + " is required");
      }
      return dflt;
    }
    return v.get(v.size() - 1);
  }

  static Map<String, List<String>> parse(String[] args) {
    Map<String, List<String>> a = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("expected --name value, got " + args[i]);
      }
      a.computeIfAbsent(args[i].substring(2), k -> new ArrayList<>()).add(args[++i]);
    }
    return a;
  }
}
