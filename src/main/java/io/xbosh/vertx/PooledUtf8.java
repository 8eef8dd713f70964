package io.xbosh.vertx;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.buffer.BufferInternal;
import io.vertx.core.streams.WriteStream;
import java.util.function.Function;

/**
 * Text written to a socket as UTF-8 encoded once, straight into a pooled direct buffer.
 *
 * <p>{@code write(String)} and {@code Buffer.buffer(String)} encode into a {@code byte[]}, copy it
 * into a heap buffer, and the NIO transport copies that again into a direct buffer before the
 * system call: three passes over every response and stanza. Here the transport gets the direct
 * buffer itself. Vert.x hands the transport an unreleasable view of a buffer it did not allocate,
 * so the buffer is released here, once the write it was given to has completed or failed (Netty
 * completes every write's promise, also when the connection closes first).
 */
public final class PooledUtf8 {

  private PooledUtf8() {
  }

  /** The UTF-8 bytes of {@code text} (an unpaired surrogate as {@code ?}, as {@link String#getBytes} does) in a pooled direct buffer. */
  static ByteBuf encode(String text) {
    ByteBuf buf = ByteBufAllocator.DEFAULT.directBuffer(ByteBufUtil.utf8Bytes(text));
    ByteBufUtil.writeUtf8(buf, text);
    return buf;
  }

  /** Writes {@code text} to {@code stream}; on the stream's event loop. */
  public static Future<Void> write(WriteStream<Buffer> stream, String text) {
    return write(text, stream::write);
  }

  /**
   * Hands the encoded {@code text} to {@code write} (one write or end of a stream, which it must
   * not keep beyond the future it returns) and releases it when that completes.
   */
  public static Future<Void> write(String text, Function<Buffer, Future<Void>> write) {
    ByteBuf buf = encode(text);
    Future<Void> written;
    try {
      written = write.apply(BufferInternal.buffer(buf));
    } catch (RuntimeException e) {
      buf.release();
      throw e;
    }
    return written.andThen(ar -> buf.release());
  }
}
