package io.xbosh.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.xbosh.protocol.BodyParserCostTestAccess;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.SmackClients;
import io.xbosh.testing.XboshProcess;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jivesoftware.smack.tcp.XMPPTCPConnection;
import org.jxmpp.jid.impl.JidCreate;
import org.junit.jupiter.api.Test;

/**
 * The floods of issue 17 at full scale against one pod ({@code java -jar target/xbosh.jar}, two
 * event loops, Redis store, real Prosody, the production limits except
 * {@code XBOSH_MAX_HELD_REQUESTS=100}), each for a few seconds, while two victim sessions (alice
 * to bob, both through the pod from 127.0.0.1) exchange one message a second. Attackers connect
 * from 127.0.0.2 and up, as other clients would. For each attack it prints one {@code HOSTILE}
 * line: the victims' latency (send to receipt, same clock) and losses during the attack, the peaks
 * of the pod's RSS, heap in use, fds, Prosody's fds, Redis memory and the load average, and what
 * the attacker got. A benchmark, not part of the suite: it runs only with
 * {@code -Dxbosh.hostile.bench=true} (src/bench/hostile-run.sh).
 */
class HostileBenchIT {

  private static final String B = BoshSession.B;
  private static final long PHASE_MS = Long.getLong("xbosh.hostile.phaseMs", 12_000);

  private ProsodyProcess prosody;
  private RedisProcess redis;
  private XboshProcess pod;
  private final ConcurrentMap<String, Long> sentAt = new ConcurrentHashMap<>();
  private final ConcurrentMap<String, Long> latencyMicros = new ConcurrentHashMap<>();
  private final AtomicBoolean running = new AtomicBoolean(true);

  @Test
  void hostileFloodsAtFullScale() throws Exception {
    assumeThat(Boolean.getBoolean("xbosh.hostile.bench")).as("run by src/bench/hostile-run.sh").isTrue();
    prosody = ProsodyProcess.start(Map.of("alice", "pw", "bob", "pw", "carol", "carolpw", "dave", "davepw"));
    redis = RedisProcess.start();
    List<String> lines = new ArrayList<>();
    try {
      pod = XboshProcess.start("hostile-bench", Map.ofEntries(
          Map.entry("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort()),
          Map.entry("XBOSH_REDIS_URL", redis.url()),
          Map.entry("XBOSH_EVENT_LOOPS", "2"),
          // the production per-address limits (tests turn them off elsewhere)
          Map.entry("XBOSH_CREATES_PER_SECOND", "5"),
          Map.entry("XBOSH_MAX_PREAUTH_PER_ADDRESS", "20"),
          Map.entry("XBOSH_MAX_PREAUTH_SESSIONS", "1000"),
          Map.entry("XBOSH_MAX_CONNECTIONS_PER_ADDRESS", "256"),
          Map.entry("XBOSH_MAX_HELD_REQUESTS", "100"),
          Map.entry("XBOSH_MAX_HELD_PER_ADDRESS", "10")));
      HttpClient http = HttpClient.newHttpClient();
      BoshSession alice = BoshSession.login(http, List.of(pod.endpoint()), ProsodyProcess.DOMAIN, "alice", "pw", "v", 10);
      BoshSession bob = BoshSession.login(http, List.of(pod.endpoint()), ProsodyProcess.DOMAIN, "bob", "pw", "v", 10);
      Thread receiver = new Thread(() -> receive(bob), "victim-bob");
      receiver.setDaemon(true);
      receiver.start();
      String[] phase = {"warm-up"};
      AtomicLong seq = new AtomicLong();
      Thread sender = new Thread(() -> {
        while (running.get()) {
          String id = phase[0] + "-" + seq.incrementAndGet();
          sentAt.put(id, System.nanoTime());
          alice.sendAsync("<message xmlns='jabber:client' to='bob@localhost/v'><body>hv:" + id + "</body></message>");
          try {
            Thread.sleep(1000);
          } catch (InterruptedException e) {
            return;
          }
        }
      }, "victim-alice");
      sender.setDaemon(true);
      sender.start();
      // warmed up once the victims' first message has gone round
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() -> !latencyMicros.isEmpty());

      record Attack(String name, Attacker run) {
      }
      List<Attack> attacks = List.of(
          new Attack("new-names", this::newNames),
          new Attack("preauth-flood", this::preauthFlood),
          new Attack("slowloris", this::slowloris),
          new Attack("held-requests", this::heldRequests),
          new Attack("big-stanzas", this::bigStanzas),
          new Attack("metrics-pipelining", this::metricsPipelining));
      String only = System.getProperty("xbosh.hostile.attacks", "");
      for (Attack attack : attacks) {
        if (!only.isEmpty() && !List.of(only.split(",")).contains(attack.name())) {
          continue;
        }
        phase[0] = attack.name();
        Peaks peaks = new Peaks();
        Thread sampler = new Thread(() -> peaks.sampleUntilStopped(pod.pid(), prosody.pid(), redis.port()), "sampler");
        sampler.setDaemon(true);
        sampler.start();
        long start = System.nanoTime();
        String got = attack.run().attack(PHASE_MS);
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        phase[0] = "after-" + attack.name();
        // stragglers: a victim message is lost if it has not arrived 10 s after its phase
        String name = attack.name();
        try {
          org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).pollInterval(java.time.Duration.ofMillis(200))
              .until(() -> sentAt.keySet().stream().filter(id -> id.startsWith(name + "-")).allMatch(latencyMicros::containsKey));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
          // what has not arrived by now counts as lost in the line below
        }
        peaks.stop();
        sampler.join();
        String line = String.format("HOSTILE %s (%d ms): victims %s | xbosh RSS %d MB, heap %d MB, fds %d | prosody fds %d"
                + " | redis %.1f MB | load %.1f | attacker: %s",
            attack.name(), tookMs, victims(attack.name()), peaks.rss.get() >> 20, peaks.heap.get() >> 20, peaks.fds.get(),
            peaks.prosodyFds.get(), peaks.redis.get() / 1048576.0, peaks.load.get() / 100.0, got);
        System.out.println(line);
        lines.add(line);
      }
      running.set(false);
      Files.write(Path.of("target", "hostile-bench.txt"), lines);
      assertThat(pod.isAlive()).isTrue();
      assertThat(lines).isNotEmpty();
    } finally {
      running.set(false);
      if (pod != null) {
        pod.close();
      }
      redis.close();
      prosody.close();
    }
  }

  @FunctionalInterface
  interface Attacker {
    String attack(long ms) throws Exception;
  }

  // ---- the victims

  private void receive(BoshSession bob) {
    Pattern body = Pattern.compile("<body>hv:([^<]+)</body>");
    while (running.get()) {
      try {
        String answer = bob.send("").body();
        long now = System.nanoTime();
        Matcher m = body.matcher(answer);
        while (m.find()) {
          Long sent = sentAt.get(m.group(1));
          if (sent != null) {
            latencyMicros.putIfAbsent(m.group(1), (now - sent) / 1000);
          }
        }
      } catch (Exception e) {
        // a failed poll is a victim's loss: counted by what never arrives
      }
    }
  }

  private String victims(String phase) {
    LatencyRecorder r = new LatencyRecorder();
    int sent = 0;
    for (String id : sentAt.keySet()) {
      if (id.startsWith(phase + "-")) {
        sent++;
        Long l = latencyMicros.get(id);
        if (l != null) {
          r.record(l);
        }
      }
    }
    return String.format("%d sent, %d lost, p50 %d ms, p99 %d ms, max %d ms", sent, sent - r.count(), r.percentile(50) / 1000,
        r.percentile(99) / 1000, r.max() / 1000);
  }

  /** Peaks sampled every half second (the heap every two seconds: jcmd is slow). */
  private static final class Peaks {
    final AtomicLong rss = new AtomicLong();
    final AtomicLong heap = new AtomicLong();
    final AtomicLong fds = new AtomicLong();
    final AtomicLong prosodyFds = new AtomicLong();
    final AtomicLong redis = new AtomicLong();
    final AtomicLong load = new AtomicLong();
    private volatile boolean stopped;

    void stop() {
      stopped = true;
    }

    void sampleUntilStopped(long podPid, long prosodyPid, int redisPort) {
      int n = 0;
      while (!stopped) {
        try {
          rss.accumulateAndGet(ProcessStats.rssBytes(podPid), Math::max);
          fds.accumulateAndGet(fds(podPid), Math::max);
          prosodyFds.accumulateAndGet(fds(prosodyPid), Math::max);
          redis.accumulateAndGet(ProcessStats.redisInfo(redisPort, "memory", "used_memory"), Math::max);
          String[] avg = Files.readString(Path.of("/proc/loadavg")).split(" ");
          load.accumulateAndGet(Math.round(Double.parseDouble(avg[0]) * 100), Math::max);
          if (n++ % 4 == 0) {
            heap.accumulateAndGet(heapInUse(podPid), Math::max);
          }
          Thread.sleep(500);
        } catch (Exception e) {
          return;
        }
      }
    }

    private static long fds(long pid) {
      String[] list = new java.io.File("/proc/" + pid + "/fd").list();
      return list == null ? -1 : list.length;
    }

    private static long heapInUse(long pid) throws Exception {
      String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
      Process p = new ProcessBuilder(jcmd, Long.toString(pid), "GC.heap_info").redirectErrorStream(true).start();
      String info = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      p.waitFor(30, TimeUnit.SECONDS);
      long used = 0;
      Matcher gens = Pattern.compile("(?:generation|space)\\s+total \\d+K, used (\\d+)K").matcher(info);
      while (gens.find()) {
        used += Long.parseLong(gens.group(1));
      }
      return used * 1024;
    }
  }

  // ---- the attacks

  /** 64 KB bodies full of new attribute names, from one address, back to back on 4 connections. */
  private String newNames(long ms) throws Exception {
    AtomicLong answered = new AtomicLong();
    AtomicLong slowest = new AtomicLong();
    AtomicLong other = new AtomicLong();
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    AtomicLong n = new AtomicLong(100_000);
    for (int t = 0; t < 4; t++) {
      pool.submit(() -> {
        while (System.nanoTime() < end) {
          try (Socket s = connect("127.0.0.2")) {
            while (System.nanoTime() < end) {
              byte[] body = BodyParserCostTestAccess.adversarialBody((int) n.incrementAndGet(), 60_000);
              long t0 = System.nanoTime();
              Response r = exchange(s, post(body));
              slowest.accumulateAndGet(System.nanoTime() - t0, Math::max);
              if (r.status == 200) {
                answered.incrementAndGet();
              } else {
                other.incrementAndGet();
              }
            }
          } catch (IOException e) {
            other.incrementAndGet();
          }
        }
        return null;
      });
    }
    pool.shutdown();
    pool.awaitTermination(ms + 60_000, TimeUnit.MILLISECONDS);
    return String.format("%d bodies answered (200, item-not-found), %d other, slowest %d ms", answered.get(), other.get(),
        TimeUnit.NANOSECONDS.toMillis(slowest.get()));
  }

  /** Session creations at 1,000/s from one address, never authenticated (20,000 in 20 s in the issue). */
  private String preauthFlood(long ms) throws Exception {
    ConcurrentMap<Integer, AtomicLong> statuses = new ConcurrentHashMap<>();
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    AtomicLong rid = new AtomicLong(1000);
    long perThreadGapNanos = TimeUnit.MILLISECONDS.toNanos(8);
    for (int t = 0; t < 8; t++) {
      pool.submit(() -> {
        long next = System.nanoTime();
        while (System.nanoTime() < end) {
          try (Socket s = connect("127.0.0.3")) {
            while (System.nanoTime() < end) {
              Response r = exchange(s, post(("<body " + B + " rid='" + rid.incrementAndGet()
                  + "' to='localhost' wait='5' hold='1' ver='1.11'/>").getBytes(StandardCharsets.UTF_8)));
              statuses.computeIfAbsent(r.status, k -> new AtomicLong()).incrementAndGet();
              next += perThreadGapNanos;
              long gap = next - System.nanoTime();
              if (gap > 0) {
                TimeUnit.NANOSECONDS.sleep(gap);
              }
            }
          } catch (IOException e) {
            statuses.computeIfAbsent(-1, k -> new AtomicLong()).incrementAndGet();
          }
        }
        return null;
      });
    }
    pool.shutdown();
    pool.awaitTermination(ms + 60_000, TimeUnit.MILLISECONDS);
    // a real login meanwhile from another address is the victims' job; here: could carol log in?
    long t0 = System.nanoTime();
    BoshSession carol = BoshSession.login(HttpClient.newHttpClient(), List.of(pod.endpoint()), ProsodyProcess.DOMAIN, "carol",
        "carolpw", "c");
    carol.sendAsync("<presence xmlns='jabber:client' type='unavailable'/>");
    return "answers by status " + statuses + " (-1: connection failed); a real login right after took "
        + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) + " ms";
  }

  /** 15,000 connections from 60 addresses, each sending its head one byte every 5 s. */
  private String slowloris(long ms) throws Exception {
    List<Socket> sockets = new ArrayList<>();
    long failed = 0;
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    try {
      for (int i = 0; i < 15_000 && System.nanoTime() < end; i++) {
        try {
          Socket s = connect("127.0.1." + (1 + i % 60));
          s.getOutputStream().write('P');
          sockets.add(s);
        } catch (IOException e) {
          failed++;
        }
      }
      int opened = sockets.size();
      long openingMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - (end - TimeUnit.MILLISECONDS.toNanos(ms)));
      long afterOpening = System.nanoTime();
      // held open by the pod a second after the last was opened
      long held = sockets.stream().filter(s -> !closedByPeer(s)).count();
      // keep dripping until the head deadline (10 s) has passed for the last one opened
      long until = Math.max(end, afterOpening + TimeUnit.SECONDS.toNanos(12));
      byte[] head = "OST /http-bind HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);
      int[] at = new int[sockets.size()];
      while (System.nanoTime() < until) {
        for (int i = 0; i < sockets.size(); i++) {
          Socket s = sockets.get(i);
          if (s.isClosed()) {
            continue;
          }
          try {
            s.getOutputStream().write(head[at[i]++ % head.length]);
          } catch (IOException e) {
            s.close();
          }
        }
        Thread.sleep(Math.min(5000, Math.max(0, TimeUnit.NANOSECONDS.toMillis(until - System.nanoTime()))));
      }
      long stillOpen = sockets.stream().filter(s -> !s.isClosed() && !closedByPeer(s)).count();
      return String.format("%d connections opened in %d ms (%d failed to connect); %d of them held by the pod once all were opened, "
          + "%d open 12 s after the last was opened", opened, openingMs, failed, held, stillOpen);
    } finally {
      for (Socket s : sockets) {
        s.close();
      }
    }
  }

  /** 60 unauthenticated sessions from 3 addresses, each holding 2 requests, against 100 held requests per pod. */
  private String heldRequests(long ms) throws Exception {
    List<Thread> threads = new ArrayList<>();
    ConcurrentMap<Integer, AtomicLong> statuses = new ConcurrentHashMap<>();
    AtomicLong created = new AtomicLong();
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    for (int a = 0; a < 3; a++) {
      String address = "127.0.0." + (10 + a);
      for (int k = 0; k < 20; k++) {
        long rid0 = 5000 + 100L * (a * 20 + k);
        Thread t = new Thread(() -> {
          try {
            String sid = null;
            while (sid == null && System.nanoTime() < end) {
              try (Socket s = connect(address)) {
                Response r = exchange(s, post(("<body " + B + " rid='" + rid0 + "' to='localhost' wait='30' hold='2' ver='1.11'/>")
                    .getBytes(StandardCharsets.UTF_8)));
                if (r.status == 200) {
                  sid = BoshSession.attr(r.body, "sid");
                  created.incrementAndGet();
                } else {
                  Thread.sleep(1000);
                }
              }
            }
            long rid = rid0;
            // two polls held at once, each renewed as soon as it is answered
            List<Thread> polls = new ArrayList<>();
            for (int p = 0; p < 2; p++) {
              String theSid = sid;
              long first = rid0 + 1 + p;
              Thread poll = new Thread(() -> {
                long r = first;
                while (theSid != null && System.nanoTime() < end) {
                  try (Socket s = connect(address)) {
                    s.setSoTimeout(40_000);
                    Response answer = exchange(s, post(("<body " + B + " sid='" + theSid + "' rid='" + r + "'/>")
                        .getBytes(StandardCharsets.UTF_8)));
                    statuses.computeIfAbsent(answer.status, x -> new AtomicLong()).incrementAndGet();
                    if (answer.status == 503) {
                      Thread.sleep(1000);
                    } else {
                      r += 2;
                    }
                  } catch (Exception e) {
                    statuses.computeIfAbsent(-1, x -> new AtomicLong()).incrementAndGet();
                  }
                }
              });
              poll.setDaemon(true);
              poll.start();
              polls.add(poll);
            }
            for (Thread poll : polls) {
              poll.join();
            }
          } catch (Exception e) {
            statuses.computeIfAbsent(-1, x -> new AtomicLong()).incrementAndGet();
          }
        });
        t.setDaemon(true);
        t.start();
        threads.add(t);
      }
    }
    for (Thread t : threads) {
      t.join(ms + 60_000);
    }
    return "sessions created " + created.get() + "/60; poll answers by status " + statuses + " (-1: failed)";
  }

  /** A server sends 250 KB stanzas to carol (logged in through the pod), who does not poll. */
  private String bigStanzas(long ms) throws Exception {
    BoshSession carol = BoshSession.login(HttpClient.newHttpClient(), List.of(pod.endpoint()), ProsodyProcess.DOMAIN, "carol",
        "carolpw", "sink", 60);
    carol.send("<presence xmlns='jabber:client'/>");
    XMPPTCPConnection dave = SmackClients.tcp(prosody.c2sPort(), "dave", "flood");
    long sent = 0;
    try {
      String text = "x".repeat(250_000);
      var to = JidCreate.entityFullFrom("carol@localhost/sink");
      long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
      while (System.nanoTime() < end) {
        dave.sendStanza(dave.getStanzaFactory().buildMessageStanza().to(to).setBody(text).build());
        sent++;
      }
      // then carol polls once: what does one answer carry?
      long t0 = System.nanoTime();
      int first = carol.send("").body().length();
      return String.format("dave sent %d stanzas of 250 KB (%d MB); carol's first poll after the attack: %d bytes in %d ms", sent,
          sent * 250_000 >> 20, first, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    } finally {
      dave.disconnect();
      carol.sendAsync("<presence xmlns='jabber:client' type='unavailable'/>");
    }
  }

  /** 40 connections from one address pipelining GET /metrics without reading the answers. */
  private String metricsPipelining(long ms) throws Exception {
    AtomicLongArray written = new AtomicLongArray(40);
    List<Socket> sockets = new CopyOnWriteArrayList<>();
    byte[] requests = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000).getBytes(StandardCharsets.US_ASCII);
    List<Thread> writers = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      Socket s = connect("127.0.0.20");
      s.setReceiveBufferSize(4096);
      sockets.add(s);
      int index = i;
      Thread w = new Thread(() -> {
        try {
          OutputStream out = s.getOutputStream();
          for (int k = 0; k < 1000; k++) { // 2 M requests per connection at most
            out.write(requests);
            written.addAndGet(index, requests.length);
          }
        } catch (IOException closed) {
          // closed at the end
        }
      });
      w.setDaemon(true);
      w.start();
      writers.add(w);
    }
    Thread.sleep(ms);
    long total = 0;
    for (int i = 0; i < 40; i++) {
      total += written.get(i);
    }
    for (Socket s : sockets) {
      s.close();
    }
    for (Thread w : writers) {
      w.join(10_000);
    }
    return String.format("%d MB of pipelined requests (%d requests) accepted into socket buffers in %d s, of 2,800 MB it tried to write",
        total >> 20, total / 35, ms / 1000);
  }

  // ---- raw HTTP/1.1 from a chosen loopback address

  private Socket connect(String localAddress) throws IOException {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(localAddress, 0));
    s.connect(new InetSocketAddress("127.0.0.1", pod.port()), 5000);
    s.setSoTimeout(20_000);
    return s;
  }

  private static byte[] post(byte[] body) {
    byte[] head = ("POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: " + body.length
        + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
    byte[] all = new byte[head.length + body.length];
    System.arraycopy(head, 0, all, 0, head.length);
    System.arraycopy(body, 0, all, head.length, body.length);
    return all;
  }

  record Response(int status, String body) {
  }

  private static Response exchange(Socket s, byte[] request) throws IOException {
    s.getOutputStream().write(request);
    InputStream in = s.getInputStream();
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed");
      }
      head.write(b);
    }
    String headers = head.toString(StandardCharsets.ISO_8859_1);
    int length = 0;
    for (String line : headers.split("\r\n")) {
      if (line.toLowerCase().startsWith("content-length:")) {
        length = Integer.parseInt(line.substring(15).trim());
      }
    }
    return new Response(Integer.parseInt(headers.substring(9, 12)), new String(in.readNBytes(length), StandardCharsets.UTF_8));
  }

  private static boolean closedByPeer(Socket s) {
    try {
      s.setSoTimeout(1);
      return s.getInputStream().read() < 0;
    } catch (java.net.SocketTimeoutException open) {
      return false;
    } catch (IOException reset) {
      return true;
    }
  }
}
