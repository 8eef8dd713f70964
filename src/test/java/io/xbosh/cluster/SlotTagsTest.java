package io.xbosh.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.redis.client.impl.ZModem;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class SlotTagsTest {

  /** A wrong tag would make a session's scripts touch another slot, which Redis Cluster refuses. */
  @Test
  void everySlotsTagHashesToThatSlotAsRedisClusterHashesIt() {
    for (int slot = 0; slot < SlotTags.SLOTS; slot++) {
      String tag = SlotTags.tag(slot);
      assertThat(tag).matches("[0-9a-z]{1,4}");
      String channel = ShardChannels.channel("pod-1", slot);
      assertThat(SlotTags.slot(channel)).isEqualTo(slot);
      assertThat(ZModem.generate(channel.getBytes(StandardCharsets.UTF_8))).isEqualTo(slot);
    }
  }

  @Test
  void aSessionsSlotIsThatOfItsKeys() {
    for (String sid : new String[] {"a", "Zm9vYmFy", "x-_y", "0123456789abcdefghij"}) {
      int slot = ShardChannels.slotOfSession(sid);
      assertThat(ZModem.generate(("xb:{" + sid + "}").getBytes(StandardCharsets.UTF_8))).isEqualTo(slot);
      assertThat(ZModem.generate(("xb:{" + sid + "}:out").getBytes(StandardCharsets.UTF_8))).isEqualTo(slot);
      assertThat(SlotTags.slot("xb:pod:p{" + SlotTags.tag(slot) + "}")).isEqualTo(slot);
    }
    assertThat(SlotTags.slot("plain")).isEqualTo(ZModem.generate("plain".getBytes(StandardCharsets.UTF_8)));
    assertThat(SlotTags.slot("a{}b")).isEqualTo(ZModem.generate("a{}b".getBytes(StandardCharsets.UTF_8)));
  }
}
