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
 *     [--label L] [--out results.tsv] [--framing rfc7395|stream-header]
 * java -cp target/xbosh.jar io.xbosh.bench.Bench --plot results.tsv --png latency.png
 * </pre>
 *
 * Each measured phase appends one row to {@code --out} (tab-separated, header on a new file) and
 * prints a summary. {@code ws://} URLs make the clients speak XMPP over WebSocket ({@code --framing
 * stream-header}: the pre-RFC draft that node-xmpp-bosh speaks). {@code --pid} names processes under test (CPU, RSS; heap for JVMs);
 * {@code --redis-port} the Redis whose memory and script calls are counted.
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
    List<URI> urls = a.getOrDefault("url", List.of()).stream().map(URI::create).toList();
    if (urls.isEmpty()) {
      System.err.println("--url is required (repeat it for round robin)");
      System.exit(2);
    }
    String scenario = one(a, "scenario", "chat");
    int sessions = Integer.parseInt(one(a, "sessions", "100"));
    LoadGenerator.Options options = new LoadGenerator.Options(urls, one(a, "domain", "localhost"), sessions,
        one(a, "user-prefix", "u"), one(a, "password", "pw"), Integer.parseInt(one(a, "wait", "60")),
        Integer.parseInt(one(a, "login-concurrency", "50")),
        "stream-header".equals(one(a, "framing", "rfc7395")) ? LoadGenerator.WsFraming.STREAM_HEADER : LoadGenerator.WsFraming.RFC7395);
    List<Long> pids = a.getOrDefault("pid", List.of()).stream().map(Long::parseLong).toList();
    int redisPort = Integer.parseInt(one(a, "redis-port", "0"));
    long durationMs = Long.parseLong(one(a, "duration-s", "30")) * 1000;
    String label = one(a, "label", urls.get(0).getHost() + ":" + urls.get(0).getPort());
    Path out = Path.of(one(a, "out", "bench-results.tsv"));

    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    LoadGenerator gen = new LoadGenerator(vertx, options);
    try {
      long heapBefore = pids.isEmpty() ? -1 : ProcessStats.heapAfterGcBytes(pids.get(0));
      long redisBefore = redisPort > 0 ? ProcessStats.redisInfo(redisPort, "memory", "used_memory") : -1;
      await(gen.login());
      switch (scenario) {
        case "idle" -> {
          // measured at the end of the hold: every session has then long-polled for a while (with
          // --wait shorter than the hold, each has had an empty poll answered and sent the next),
          // which is the state an idle session stays in
          Measure m = Measure.start(pids, redisPort);
          LoadGenerator.Result r = await(gen.phase(0, durationMs, 0));
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
          LoadGenerator.Result r = await(gen.phase(rate, durationMs, 15_000));
          report(out, label, scenario, rate, r, m.finish(durationMs, r), -1, -1);
        }
        case "burst" -> {
          // rates in turn until p99 passes one second (or messages are lost)
          for (String step : one(a, "rates", "50,100,200,400,800").split(",")) {
            double rate = Double.parseDouble(step);
            Measure m = Measure.start(pids, redisPort);
            LoadGenerator.Result r = await(gen.phase(rate, durationMs, 15_000));
            report(out, label, scenario, rate, r, m.finish(durationMs, r), -1, -1);
            if (r.p99() > 1_000_000 || r.lost() > 0) {
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

  /** CPU and Redis counters over one phase. */
  private record Measure(List<Long> pids, int redisPort, double cpuBefore, long scriptsBefore) {

    static Measure start(List<Long> pids, int redisPort) throws IOException, InterruptedException {
      double cpu = 0;
      for (long pid : pids) {
        cpu += ProcessStats.cpuSeconds(pid);
      }
      return new Measure(pids, redisPort, cpu, redisPort > 0 ? ProcessStats.redisCalls(redisPort, "evalsha") : 0);
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
        long scripts = ProcessStats.redisCalls(redisPort, "evalsha") - scriptsBefore;
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
