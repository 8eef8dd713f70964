package io.xbosh.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import javax.imageio.ImageIO;

/**
 * Turns one run of {@code src/bench/run-benchmarks.sh} ({@code results.tsv} and {@code procs.tsv}
 * in the directory given) into the Markdown tables of BENCHMARKS.md, medians over the rounds, and
 * draws {@code idle-scale.png} (cost against idle sessions):
 * {@code java -cp target/xbosh.jar io.xbosh.bench.BenchSummary target/bench > summary.md}.
 */
public final class BenchSummary {

  /** The process(es) that speak BOSH (or WebSocket, targets e-g) for each target; the rest of a row is what runs behind or beside. */
  private static final Map<String, List<String>> FRONT = Map.of(
      "prosody-mod_bosh", List.of("prosody"),
      "xbosh-in-process", List.of("xbosh-local"),
      "xbosh-redis", List.of("xbosh-redis1", "redis-server"),
      "xbosh-redis-2pods", List.of("xbosh-redis1", "xbosh-redis2", "redis-server"),
      "node-xmpp-bosh", List.of("node-xmpp-bosh"),
      "prosody-mod_websocket", List.of("prosody"),
      "xbosh-websocket", List.of("xbosh-local"),
      "node-xmpp-bosh-websocket", List.of("node-xmpp-bosh"));

  private BenchSummary() {
  }

  /** A tab-separated file with a header line, as rows of name → value. */
  record Table(List<Map<String, String>> rows) {

    static Table read(Path file) throws IOException {
      List<Map<String, String>> rows = new ArrayList<>();
      if (!Files.exists(file)) {
        return new Table(rows);
      }
      List<String> lines = Files.readAllLines(file);
      String[] head = lines.get(0).split("\t");
      for (String line : lines.subList(1, lines.size())) {
        if (line.isBlank() || line.startsWith(head[0] + "\t")) {
          continue;
        }
        String[] f = line.split("\t", -1);
        Map<String, String> row = new LinkedHashMap<>();
        for (int i = 0; i < head.length && i < f.length; i++) {
          row.put(head[i], f[i]);
        }
        rows.add(row);
      }
      return new Table(rows);
    }

    List<Map<String, String>> where(Predicate<Map<String, String>> p) {
      return rows.stream().filter(p).toList();
    }
  }

  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args.length > 0 ? args[0] : "target/bench");
    Table results = Table.read(dir.resolve("results.tsv"));
    Table procs = Table.read(dir.resolve("procs.tsv"));
    StringBuilder md = new StringBuilder();
    chat(results, procs, md);
    burst(results, procs, md, args.length > 1 ? Double.parseDouble(args[1]) : 1000);
    idleScale(procs, md, dir.resolve("idle-scale.png"));
    logins(Table.read(dir.resolve("logins.tsv")), md);
    System.out.print(md);
  }

  // ---- chat: latency and CPU per 1,000 delivered messages, medians over rounds

  static void chat(Table results, Table procs, StringBuilder md) {
    List<String> labels = labels(results, "chat");
    if (labels.isEmpty()) {
      return;
    }
    md.append("### chat: latency (median of the rounds)\n\n")
        .append("| target | rounds | delivered/s | p50 ms | p95 ms | p99 ms | max ms | lost / duplicated |\n")
        .append("|---|---|---|---|---|---|---|---|\n");
    for (String label : labels) {
      List<Map<String, String>> rows = results.where(r -> label.equals(r.get("label")) && "chat".equals(r.get("scenario")));
      md.append(String.format(Locale.ROOT, "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %d / %d of %d |%n", label,
          rows.size(), median(rows, "delivered_per_s"), median(rows, "p50_ms"), median(rows, "p95_ms"),
          median(rows, "p99_ms"), median(rows, "max_ms"), (long) sum(rows, "lost"), (long) sum(rows, "duplicated"),
          (long) sum(rows, "sent")));
    }
    Set<String> names = new LinkedHashSet<>();
    procs.where(r -> "chat".equals(r.get("scenario"))).forEach(r -> names.add(r.get("process")));
    md.append("\n### chat: CPU seconds per 1,000 delivered messages, every process (median of the rounds)\n\n| target |");
    names.forEach(n -> md.append(' ').append(n).append(" |"));
    md.append(" BOSH front (the target's own processes) |\n|---|");
    names.forEach(n -> md.append("---|"));
    md.append("---|\n");
    Map<String, Map<String, Double>> cost = new LinkedHashMap<>();
    for (String label : labels) {
      Map<String, Double> byProc = new LinkedHashMap<>();
      md.append("| ").append(label).append(" |");
      for (String n : names) {
        double v = medianValue(procs.where(r -> label.equals(r.get("label")) && "chat".equals(r.get("scenario"))
            && n.equals(r.get("process"))), "cpu_s_per_1000_msgs");
        byProc.put(n, v);
        md.append(' ').append(Double.isNaN(v) ? "–" : f3(v)).append(" |");
      }
      double front = 0;
      for (String n : FRONT.getOrDefault(label, List.of())) {
        front += byProc.getOrDefault(n, Double.NaN);
      }
      md.append(' ').append(f3(front)).append(" |\n");
      cost.put(label, byProc);
    }
    Map<String, Double> a = cost.get("prosody-mod_bosh");
    Map<String, Double> c = cost.get("xbosh-redis");
    if (a != null && c != null) {
      double prosodyBosh = a.get("prosody");
      double prosodyC2s = c.get("prosody");
      double xr = c.get("xbosh-redis1") + c.get("redis-server");
      md.append(String.format(Locale.ROOT, """

          Prosody's c2s routing alone (its CPU while xbosh on Redis fronts it): %s s per 1,000 messages;
          Prosody serving the same load over mod_bosh: %s, so its BOSH work is %s. xbosh + redis-server: %s.
          mod_bosh's BOSH work ÷ (xbosh + redis-server) = **%.2f** (target ≥ 2); the whole of Prosody under
          mod_bosh ÷ (xbosh + redis-server) = %.2f. Whole system without the generator: mod_bosh %s,
          xbosh on Redis + Prosody c2s %s.
          """, f3(prosodyC2s), f3(prosodyBosh), f3(prosodyBosh - prosodyC2s), f3(xr), (prosodyBosh - prosodyC2s) / xr,
          prosodyBosh / xr, f3(prosodyBosh), f3(xr + prosodyC2s)));
    }
    md.append('\n');
  }

  // ---- burst: the highest rate each round sustained within the bound

  static void burst(Table results, Table procs, StringBuilder md, double maxP99Ms) {
    List<String> labels = labels(results, "burst");
    if (labels.isEmpty()) {
      return;
    }
    md.append(String.format(Locale.ROOT, "### burst: highest arrival rate with p99 ≤ %.0f ms, no loss, no error, each round (p99 ms at each rate; ✗ broke the bound)%n%n", maxP99Ms))
        .append("| target | round | p99 ms by rate (msg/s) | sustained | CPU s / 1,000 msgs at that rate (front) |\n")
        .append("|---|---|---|---|---|\n");
    Map<String, Double> medians = new LinkedHashMap<>();
    for (String label : labels) {
      List<List<Map<String, String>>> rounds = new ArrayList<>();
      double last = Double.MAX_VALUE;
      for (Map<String, String> r : results.where(x -> label.equals(x.get("label")) && "burst".equals(x.get("scenario")))) {
        double rate = num(r, "rate");
        if (rate <= last) {
          rounds.add(new ArrayList<>());
        }
        rounds.get(rounds.size() - 1).add(r);
        last = rate;
      }
      // procs.tsv has one row per process and phase, the generator's first: phase k there is results row k here
      List<List<Map<String, String>>> phases = new ArrayList<>();
      for (Map<String, String> p : procs.where(x -> label.equals(x.get("label")) && "burst".equals(x.get("scenario")))) {
        if ("generator".equals(p.get("process")) || phases.isEmpty()) {
          phases.add(new ArrayList<>());
        }
        phases.get(phases.size() - 1).add(p);
      }
      List<Double> sustained = new ArrayList<>();
      int phase = 0;
      for (int i = 0; i < rounds.size(); i++) {
        StringBuilder steps = new StringBuilder();
        double best = 0;
        double bestCost = Double.NaN;
        for (Map<String, String> r : rounds.get(i)) {
          boolean ok = num(r, "lost") == 0 && "-".equals(r.get("errors")) && num(r, "p99_ms") <= maxP99Ms;
          steps.append(String.format(Locale.ROOT, "%.0f: %.0f%s; ", num(r, "rate"), num(r, "p99_ms"), ok ? "" : " ✗"));
          double front = 0;
          for (Map<String, String> p : phase < phases.size() ? phases.get(phase) : List.<Map<String, String>>of()) {
            if (FRONT.getOrDefault(label, List.of()).contains(p.get("process"))) {
              front += num(p, "cpu_s_per_1000_msgs");
            }
          }
          phase++;
          if (ok && num(r, "rate") > best) {
            best = num(r, "rate");
            bestCost = front;
          }
        }
        sustained.add(best);
        md.append(String.format(Locale.ROOT, "| %s | %d | %s | %.0f/s | %s |%n", label, i + 1, steps.toString().trim(), best,
            f3(bestCost)));
      }
      medians.put(label, medianOf(sustained));
    }
    md.append("\nMedian sustained rate:");
    medians.forEach((l, v) -> md.append(String.format(Locale.ROOT, " %s %.0f/s;", l, v)));
    Double a = medians.get("prosody-mod_bosh");
    Double c = medians.get("xbosh-redis");
    if (a != null && c != null && a > 0) {
      md.append(String.format(Locale.ROOT, " xbosh on Redis ÷ mod_bosh = **%.2f** (target ≥ 2).", c / a));
    }
    md.append("\n\n");
  }

  // ---- idle scale: per step, the sum over processes of each kind

  static void idleScale(Table procs, StringBuilder md, Path png) throws IOException {
    List<Map<String, String>> rows = procs.where(r -> "idle-scale".equals(r.get("scenario")));
    if (rows.isEmpty()) {
      return;
    }
    md.append("### idle scale: long-polling sessions (wait=60), no messages\n\n")
        .append("| run | sessions | Redis commands/s | EVALSHA/s | redis-server cores | xbosh cores (all pods) | Prosody cores | "
            + "generator cores | Prosody RSS MB | xbosh heap MB (all pods) | heap / session | xbosh RSS MB (all pods) | RSS / session | Redis MB | Redis / session |\n")
        .append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    Map<String, List<double[]>> cpuSeries = new LinkedHashMap<>();
    Map<String, List<double[]>> memSeries = new LinkedHashMap<>();
    Map<String, List<double[]>> cmdSeries = new LinkedHashMap<>();
    Map<String, double[]> base = new LinkedHashMap<>();
    Set<String> keys = new LinkedHashSet<>();
    rows.forEach(r -> keys.add(r.get("label") + "\t" + r.get("sessions")));
    for (String key : keys) {
      String label = key.split("\t")[0];
      int sessions = Integer.parseInt(key.split("\t")[1]);
      List<Map<String, String>> step = rows.stream().filter(r -> key.equals(r.get("label") + "\t" + r.get("sessions"))).toList();
      double redisCores = sumOf(step, "redis", "cpu_cores");
      double xboshCores = sumOf(step, "xbosh", "cpu_cores");
      double prosodyCores = sumOf(step, "prosody", "cpu_cores");
      double genCores = sumOf(step, "generator", "cpu_cores");
      double prosodyRss = sumOf(step, "prosody", "rss_mb");
      double heap = sumOf(step, "xbosh", "heap_mb");
      double rss = sumOf(step, "xbosh", "rss_mb");
      double redisMb = num(step.get(0), "redis_used_mb");
      if (sessions == 0) {
        base.put(label, new double[] {heap, rss, redisMb});
      }
      double[] b = base.getOrDefault(label, new double[] {0, 0, 0});
      String perHeap = sessions == 0 ? "–" : String.format(Locale.ROOT, "%.1f KiB", (heap - b[0]) * 1024 / sessions);
      String perRss = sessions == 0 ? "–" : String.format(Locale.ROOT, "%.1f KiB", (rss - b[1]) * 1024 / sessions);
      String perRedis = sessions == 0 ? "–" : String.format(Locale.ROOT, "%.0f B", (redisMb - b[2]) * 1048576 / sessions);
      md.append(String.format(Locale.ROOT, "| %s | %,d | %.0f | %.0f | %.3f | %.3f | %.3f | %.3f | %.0f | %.0f | %s | %.0f | %s | %.1f | %s |%n",
          label, sessions, num(step.get(0), "redis_cmds_per_s"), num(step.get(0), "redis_evalsha_per_s"), redisCores,
          xboshCores, prosodyCores, genCores, prosodyRss, heap, perHeap, rss, perRss, redisMb, perRedis));
      cpuSeries.computeIfAbsent(label + ": xbosh", k -> new ArrayList<>()).add(new double[] {sessions, xboshCores * 1000});
      cpuSeries.computeIfAbsent(label + ": redis-server", k -> new ArrayList<>()).add(new double[] {sessions, redisCores * 1000});
      memSeries.computeIfAbsent(label + ": xbosh RSS", k -> new ArrayList<>()).add(new double[] {sessions, rss});
      memSeries.computeIfAbsent(label + ": xbosh heap", k -> new ArrayList<>()).add(new double[] {sessions, heap});
      memSeries.computeIfAbsent(label + ": Redis", k -> new ArrayList<>()).add(new double[] {sessions, redisMb});
      cmdSeries.computeIfAbsent(label + ": commands/s", k -> new ArrayList<>())
          .add(new double[] {sessions, num(step.get(0), "redis_cmds_per_s")});
    }
    md.append('\n');
    plot(png, List.of(
        new Panel("CPU, millicores", cpuSeries), new Panel("memory, MB", memSeries), new Panel("Redis commands/s", cmdSeries)));
  }

  // ---- the scale steps' logins: rate and CPU per login of every kind of process

  static void logins(Table logins, StringBuilder md) {
    if (logins.rows().isEmpty()) {
      return;
    }
    md.append("### idle scale: the logins of each step (CPU ms per login, summed over the processes of a kind)\n\n")
        .append("| run | sessions after | logged in | failed | seconds | logins/s | xbosh | redis-server | Prosody | generator | "
            + "all | load average before → after |\n")
        .append("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    Set<String> keys = new LinkedHashSet<>();
    logins.rows().forEach(r -> keys.add(r.get("label") + "\t" + r.get("sessions")));
    for (String key : keys) {
      List<Map<String, String>> step = logins.where(r -> key.equals(r.get("label") + "\t" + r.get("sessions")));
      Map<String, String> first = step.get(0);
      double xbosh = sumOf(step, "xbosh", "cpu_ms_per_login");
      double redis = sumOf(step, "redis", "cpu_ms_per_login");
      double prosody = sumOf(step, "prosody", "cpu_ms_per_login");
      double gen = sumOf(step, "generator", "cpu_ms_per_login");
      md.append(String.format(Locale.ROOT, "| %s | %,d | %,d | %d | %.0f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %s → %s |%n",
          first.get("label"), (long) num(first, "sessions"), (long) num(first, "new_sessions"), (long) num(first, "failed"),
          num(first, "seconds"), num(first, "logins_per_s"), xbosh, redis, prosody, gen, xbosh + redis + prosody + gen,
          first.get("loadavg_before"), first.get("loadavg_after")));
    }
    md.append('\n');
  }

  record Panel(String title, Map<String, List<double[]>> series) {
  }

  private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
      new Color(0x9467bd), new Color(0xff7f0e), new Color(0x8c564b)};

  /** Panels side by side, x = idle sessions; one line per series. */
  static void plot(Path png, List<Panel> panels) throws IOException {
    int pw = 360;
    int ph = 300;
    int w = 40 + panels.size() * (pw + 80);
    int h = ph + 230;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, w, h);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    for (int p = 0; p < panels.size(); p++) {
      Panel panel = panels.get(p);
      int left = 70 + p * (pw + 80);
      int top = 40;
      double maxX = 1;
      double maxY = 1;
      for (List<double[]> s : panel.series().values()) {
        for (double[] pt : s) {
          maxX = Math.max(maxX, pt[0]);
          maxY = Math.max(maxY, pt[1]);
        }
      }
      maxX = niceCeil(maxX);
      maxY = niceCeil(maxY);
      g.setColor(Color.BLACK);
      g.drawRect(left, top, pw, ph);
      g.drawString(panel.title(), left, top - 12);
      g.drawString("idle sessions", left + pw / 2 - 35, top + ph + 36);
      for (int i = 0; i <= 4; i++) {
        int y = top + ph - ph * i / 4;
        int x = left + pw * i / 4;
        g.setColor(new Color(0xdddddd));
        g.drawLine(left + 1, y, left + pw - 1, y);
        g.setColor(Color.BLACK);
        g.drawString(String.format(Locale.ROOT, "%.0f", maxY * i / 4), left - 45, y + 4);
        g.drawString(String.format(Locale.ROOT, "%,.0f", maxX * i / 4), x - 15, top + ph + 18);
      }
      int c = 0;
      for (Map.Entry<String, List<double[]>> e : panel.series().entrySet()) {
        g.setColor(COLORS[c % COLORS.length]);
        g.setStroke(e.getKey().startsWith("one-pod") ? new BasicStroke(2f)
            : new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
        double[] prev = null;
        for (double[] pt : e.getValue()) {
          int x = left + (int) (pw * pt[0] / maxX);
          int y = top + ph - (int) (ph * pt[1] / maxY);
          g.fillOval(x - 3, y - 3, 6, 6);
          if (prev != null) {
            g.drawLine(left + (int) (pw * prev[0] / maxX), top + ph - (int) (ph * prev[1] / maxY), x, y);
          }
          prev = pt;
        }
        g.setStroke(new BasicStroke(2f));
        int ly = top + ph + 60 + 18 * c;
        g.drawLine(left, ly, left + 20, ly);
        g.drawString(e.getKey(), left + 26, ly + 4);
        c++;
      }
    }
    g.dispose();
    ImageIO.write(img, "png", png.toFile());
  }

  // ---- helpers

  private static List<String> labels(Table t, String scenario) {
    Set<String> s = new LinkedHashSet<>();
    t.where(r -> scenario.equals(r.get("scenario"))).forEach(r -> s.add(r.get("label")));
    return new ArrayList<>(s);
  }

  private static double sumOf(List<Map<String, String>> rows, String processPrefix, String column) {
    double s = 0;
    for (Map<String, String> r : rows) {
      double v = num(r, column);
      if (r.get("process").startsWith(processPrefix) && v >= 0) {
        s += v;
      }
    }
    return s;
  }

  static double num(Map<String, String> r, String column) {
    String v = r.get(column);
    return v == null || v.isEmpty() ? Double.NaN : Double.parseDouble(v);
  }

  private static double median(List<Map<String, String>> rows, String column) {
    return medianValue(rows, column);
  }

  private static double medianValue(List<Map<String, String>> rows, String column) {
    List<Double> v = new ArrayList<>();
    rows.forEach(r -> v.add(num(r, column)));
    return medianOf(v);
  }

  static double medianOf(List<Double> values) {
    double[] v = values.stream().filter(d -> !Double.isNaN(d)).mapToDouble(Double::doubleValue).toArray();
    if (v.length == 0) {
      return Double.NaN;
    }
    Arrays.sort(v);
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  private static double sum(List<Map<String, String>> rows, String column) {
    return rows.stream().mapToDouble(r -> num(r, column)).sum();
  }

  private static String f3(double v) {
    return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.3f", v);
  }

  private static double niceCeil(double v) {
    double mag = Math.pow(10, Math.floor(Math.log10(v)));
    for (double m : new double[] {1, 2, 2.5, 5, 10}) {
      if (v <= m * mag) {
        return m * mag;
      }
    }
    return 10 * mag;
  }
}
