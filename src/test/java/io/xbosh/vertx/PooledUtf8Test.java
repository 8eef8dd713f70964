package io.xbosh.vertx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.buffer.BufferInternal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pooled encoding gives String.getBytes' bytes, and its buffer is released exactly when the write is over. */
class PooledUtf8Test {

  @Test
  void bytesAreThoseOfGetBytesForEveryKindOfCharacter() {
    String[] texts = {"", "<body xmlns='http://jabber.org/protocol/httpbind'/>", "caf\u00e9 \u00fc\u00df", "\u65e5\u672c\u8a9e",
        "\ud83d\ude00 emoji", "unpaired \ud800 high", "unpaired \udc00 low", "ends high \ud83d", "\u0000\u007f\u0080\u07ff\u0800\uffff"};
    for (String text : texts) {
      ByteBuf buf = PooledUtf8.encode(text);
      try {
        assertThat(buf.isDirect()).isTrue();
        byte[] out = new byte[buf.readableBytes()];
        buf.getBytes(buf.readerIndex(), out);
        assertThat(out).as(text).isEqualTo(text.getBytes(StandardCharsets.UTF_8));
      } finally {
        buf.release();
      }
    }
  }

  @Test
  void releasedOnceTheWriteSucceeds() {
    List<Buffer> given = new ArrayList<>();
    Promise<Void> written = Promise.promise();
    Future<Void> f = PooledUtf8.write("<message/>", b -> {
      given.add(b);
      return written.future();
    });
    ByteBuf buf = ((BufferInternal) given.get(0)).getByteBuf();
    assertThat(buf.toString(StandardCharsets.UTF_8)).isEqualTo("<message/>");
    assertThat(buf.refCnt()).isEqualTo(1);
    written.complete();
    assertThat(buf.refCnt()).isZero();
    assertThat(f.succeeded()).isTrue();
  }

  @Test
  void releasedOnceTheWriteFails() {
    List<Buffer> given = new ArrayList<>();
    Promise<Void> written = Promise.promise();
    Future<Void> f = PooledUtf8.write("<message/>", b -> {
      given.add(b);
      return written.future();
    });
    ByteBuf buf = ((BufferInternal) given.get(0)).getByteBuf();
    written.fail("connection closed");
    assertThat(buf.refCnt()).isZero();
    assertThat(f.failed()).isTrue();
  }

  @Test
  void releasedWhenTheWriteThrows() {
    List<ByteBuf> given = new ArrayList<>();
    assertThatThrownBy(() -> PooledUtf8.write("<message/>", b -> {
      given.add(((BufferInternal) b).getByteBuf());
      throw new IllegalStateException("response already written");
    })).isInstanceOf(IllegalStateException.class);
    assertThat(given.get(0).refCnt()).isZero();
  }
}
