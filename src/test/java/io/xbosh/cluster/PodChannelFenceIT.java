package io.xbosh.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.ProtocolVersion;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.xbosh.testing.RedisProcess;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The pod channel's fence on a real redis-server: a PING on the subscribed connection completes
 * behind every answer published to the pod before it, also while messages keep arriving (the
 * client hands a push that arrives while a PING waits over in that PING's place), and says which
 * subscription it ran on, so a held request registered before a drop is never answered by itself.
 */
class PodChannelFenceIT {

  RedisProcess redis;
  Vertx vertx;
  Redis commands;
  RedisPodBus bus;
  final ConcurrentLinkedQueue<String> answers = new ConcurrentLinkedQueue<>();

  final PodBus.Listener listener = new PodBus.Listener() {
    @Override
    public void answer(String holder, String body) {
      answers.add(holder);
    }

    @Override
    public void payloadsWaiting(String sid) {
    }

    @Override
    public void resubscribed() {
    }

    @Override
    public void orphaned(Set<String> sids) {
    }

    @Override
    public Future<Void> evicted() {
      return Future.succeededFuture();
    }

    @Override
    public Set<String> ownedSids() {
      return Set.of();
    }
  };

  @BeforeEach
  void start() throws Exception {
    redis = RedisProcess.start();
    vertx = Vertx.vertx();
    commands = Redis.createClient(vertx, new RedisOptions().setConnectionString(redis.url()).setMaxWaitingHandlers(8192));
  }

  @AfterEach
  void stop() throws Exception {
    if (bus != null) {
      bus.stop().await(10, TimeUnit.SECONDS);
    }
    commands.close();
    vertx.close().await(20, TimeUnit.SECONDS);
    redis.close();
  }

  /** As RedisClients makes the subscriber: RESP3, one connection. */
  Supplier<Redis> subscribers() {
    return () -> Redis.createClient(vertx, new RedisOptions().setConnectionString(redis.url()).setMaxPoolSize(1)
        .setMaxPoolWaiting(16).setMaxWaitingHandlers(1024).setPreferredProtocolVersion(ProtocolVersion.RESP3));
  }

  RedisPodBus startBus(boolean fencing) throws Exception {
    bus = new RedisPodBus(vertx, commands, subscribers(), "pod-f", 200, 5000, fencing);
    bus.start(listener).await(20, TimeUnit.SECONDS);
    return bus;
  }

  Future<?> publish(int i) {
    return commands.send(Request.cmd(Command.PUBLISH).arg(RedisPodBus.channelOf("pod-f")).arg("a\npod-f#" + i + "\n<body/>"));
  }

  @Test
  void aFenceCompletesBehindEveryAnswerPublishedBeforeIt() throws Exception {
    startBus(true);
    await().atMost(Duration.ofSeconds(10)).until(() -> bus.channel() > 0);
    long channel = bus.channel();
    for (int round = 1; round <= 20; round++) {
      for (int i = 0; i < 25; i++) {
        publish(round * 100 + i).await(10, TimeUnit.SECONDS);
      }
      int expected = round * 25;
      // what the listener had been given when the fence completed, on the fence's own callback
      int[] seen = new int[1];
      long ran = bus.fence().onSuccess(n -> seen[0] = answers.size()).await(10, TimeUnit.SECONDS);
      assertThat(ran).isEqualTo(channel);
      assertThat(seen[0]).isEqualTo(expected);
    }
  }

  @Test
  void fencesComeBackWhileMessagesKeepArriving() throws Exception {
    startBus(true);
    await().atMost(Duration.ofSeconds(10)).until(() -> bus.channel() > 0);
    long channel = bus.channel();
    List<Future<?>> flood = new ArrayList<>();
    List<Future<Long>> fences = new ArrayList<>();
    // one connection, pipelined: the messages reach the subscriber back to back
    io.vertx.redis.client.RedisConnection publisher = commands.connect().await(10, TimeUnit.SECONDS);
    for (int i = 0; i < 4000; i++) {
      flood.add(publisher.send(Request.cmd(Command.PUBLISH).arg(RedisPodBus.channelOf("pod-f")).arg("a\npod-f#" + i + "\n<body/>")));
      if (i % 200 == 0) {
        fences.add(bus.fence());
      }
    }
    Future.all(flood).await(30, TimeUnit.SECONDS);
    publisher.close();
    for (Future<Long> f : fences) {
      // a push taking a waiting PING's place in the client must not lose the PING's reply
      assertThat(f.await(10, TimeUnit.SECONDS)).isEqualTo(channel);
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> answers.size() == 4000);
  }

  @Test
  void aDroppedChannelComesBackUnderAnotherNumber() throws Exception {
    startBus(true);
    await().atMost(Duration.ofSeconds(10)).until(() -> bus.channel() > 0);
    long before = bus.channel();
    commands.send(Request.cmd(Command.CLIENT).arg("KILL").arg("TYPE").arg("pubsub")).await(10, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(20)).until(() -> bus.channel() > 0 && bus.channel() != before);
    // a request registered before the drop noted `before`: the fence now says otherwise
    assertThat(bus.fence().await(10, TimeUnit.SECONDS)).isEqualTo(bus.channel()).isNotEqualTo(before);
    publish(1).await(10, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(10)).until(() -> answers.contains("pod-f#1"));
  }

  @Test
  void onARedisClusterThereIsNoFence() throws Exception {
    startBus(false);
    publish(1).await(10, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(10)).until(() -> answers.contains("pod-f#1"));
    assertThat(bus.channel()).isEqualTo(-1);
    assertThat(bus.fence().toCompletionStage().toCompletableFuture().handle((v, e) -> e != null).get(10, TimeUnit.SECONDS)).isTrue();
  }
}
