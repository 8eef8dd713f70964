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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/** Draws p50 and p99 delivery latency against offered load, one line per label, from a results file. */
final class LatencyPlot {

  private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
      new Color(0x9467bd), new Color(0xff7f0e), new Color(0x8c564b)};

  private LatencyPlot() {
  }

  record Point(double rate, double p50, double p99) {
  }

  static void write(Path tsv, Path png) throws IOException {
    Map<String, List<Point>> series = read(tsv);
    int w = 900;
    int h = 560;
    int left = 80;
    int right = 220;
    int top = 40;
    int bottom = 60;
    double maxRate = 1;
    double maxMs = 1;
    for (List<Point> s : series.values()) {
      for (Point p : s) {
        maxRate = Math.max(maxRate, p.rate());
        maxMs = Math.max(maxMs, p.p99());
      }
    }
    maxMs = niceCeil(maxMs);
    maxRate = niceCeil(maxRate);
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, w, h);
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    int pw = w - left - right;
    int ph = h - top - bottom;
    g.drawRect(left, top, pw, ph);
    for (int i = 0; i <= 5; i++) {
      int y = top + ph - ph * i / 5;
      int x = left + pw * i / 5;
      g.setColor(new Color(0xdddddd));
      g.drawLine(left + 1, y, left + pw - 1, y);
      g.setColor(Color.BLACK);
      g.drawString(Bench.fmt(maxMs * i / 5), 10, y + 4);
      g.drawString(String.format("%.0f", maxRate * i / 5), x - 10, top + ph + 18);
    }
    g.drawString("messages per second offered", left + pw / 2 - 80, h - 15);
    g.drawString("latency ms (solid p99, dashed p50)", left, top - 12);
    int c = 0;
    for (Map.Entry<String, List<Point>> e : series.entrySet()) {
      g.setColor(COLORS[c++ % COLORS.length]);
      List<Point> pts = e.getValue();
      for (int pass = 0; pass < 2; pass++) {
        g.setStroke(pass == 0 ? new BasicStroke(2f)
            : new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
        for (int i = 0; i < pts.size(); i++) {
          Point p = pts.get(i);
          int x = left + (int) (pw * p.rate() / maxRate);
          int y = top + ph - (int) (ph * (pass == 0 ? p.p99() : p.p50()) / maxMs);
          g.fillOval(x - 3, y - 3, 6, 6);
          if (i > 0) {
            Point q = pts.get(i - 1);
            int qx = left + (int) (pw * q.rate() / maxRate);
            int qy = top + ph - (int) (ph * (pass == 0 ? q.p99() : q.p50()) / maxMs);
            g.drawLine(qx, qy, x, y);
          }
        }
      }
      g.setStroke(new BasicStroke(2f));
      int ly = top + 20 * c;
      g.drawLine(left + pw + 15, ly, left + pw + 35, ly);
      g.drawString(e.getKey(), left + pw + 40, ly + 4);
    }
    g.dispose();
    ImageIO.write(img, "png", png.toFile());
  }

  /** Rows of the chat and burst scenarios, by label, in file order. */
  static Map<String, List<Point>> read(Path tsv) throws IOException {
    List<String> lines = Files.readAllLines(tsv);
    List<String> head = List.of(lines.get(0).split("\t"));
    Map<String, List<Point>> series = new LinkedHashMap<>();
    for (String line : lines.subList(1, lines.size())) {
      if (line.isBlank() || line.startsWith("label\t")) {
        continue;
      }
      String[] f = line.split("\t");
      String scenario = f[head.indexOf("scenario")];
      if (!scenario.equals("chat") && !scenario.equals("burst")) {
        continue;
      }
      series.computeIfAbsent(f[head.indexOf("label")], k -> new ArrayList<>()).add(new Point(
          Double.parseDouble(f[head.indexOf("rate")]), Double.parseDouble(f[head.indexOf("p50_ms")]),
          Double.parseDouble(f[head.indexOf("p99_ms")])));
    }
    series.values().forEach(s -> s.sort((x, y) -> Double.compare(x.rate(), y.rate())));
    return series;
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
