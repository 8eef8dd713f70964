package io.xbosh;

import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.xbosh.config.XboshConfig;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code java -jar xbosh.jar}: configuration from the environment; {@code --help} lists it.
 * {@code --warm-up-only} starts the pod, runs its warm-up, stops and exits 0: the training run of
 * the image's class-data-sharing archive (Dockerfile, {@code -XX:ArchiveClassesAtExit}).
 */
public final class Main {

  private static final Logger log = LoggerFactory.getLogger(Main.class);

  private Main() {
  }

  public static void main(String[] args) throws InterruptedException {
    if (args.length > 0 && ("--help".equals(args[0]) || "-h".equals(args[0]))) {
      System.out.print(XboshConfig.help());
      return;
    }
    XboshConfig config;
    try {
      config = XboshConfig.fromEnv();
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.err.println("Run with --help for the list of variables.");
      System.exit(2);
      return;
    }
    boolean warmUpOnly = args.length > 0 && "--warm-up-only".equals(args[0]);
    if (warmUpOnly && !config.warmup().on()) {
      System.err.println("--warm-up-only needs a warm-up: XBOSH_WARMUP_SESSIONS and XBOSH_WARMUP_SECONDS above 0");
      System.exit(2);
      return;
    }
    if (LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext logging) {
      logging.putProperty(io.xbosh.logging.SessionMdcFilter.POD, config.nodeId());
    }
    XboshConfig.unknownVariablesInEnv().forEach(log::warn);
    // one event loop more than the HTTP listeners use: the liveness bus takes the first one created,
    // so a busy listener cannot delay the pod's heartbeats
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(Math.max(config.eventLoops(), 1) + 1));
    CountDownLatch started = new CountDownLatch(1);
    Xbosh[] running = new Xbosh[1];
    Xbosh.start(vertx, config).onComplete(ar -> {
      if (ar.failed()) {
        log.error("xbosh failed to start: {}", ar.cause().getMessage());
      } else {
        running[0] = ar.result();
      }
      started.countDown();
    });
    started.await();
    if (running[0] == null) {
      vertx.close();
      System.exit(1);
      return;
    }
    if (warmUpOnly) {
      CountDownLatch done = new CountDownLatch(1);
      running[0].warmedUp().transform(ar -> running[0].stop()).onComplete(ar -> done.countDown());
      done.await();
      CountDownLatch closed = new CountDownLatch(1);
      vertx.close().onComplete(ar -> closed.countDown());
      closed.await(30, TimeUnit.SECONDS);
      System.exit(0);
      return;
    }
    // SIGTERM: drain, end what is left with system-shutdown, then stop Vert.x
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      CountDownLatch stopped = new CountDownLatch(1);
      running[0].drainAndStop().eventually(vertx::close).onComplete(ar -> stopped.countDown());
      try {
        stopped.await(config.drainSeconds() + 30L, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "xbosh-shutdown"));
  }
}
