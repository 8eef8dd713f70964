package io.xbosh.upstream;

/**
 * The server's answer to xbosh's stream header.
 *
 * @param id       the stream id (XEP-0206 {@code authid})
 * @param from     the server's identity, or null
 * @param features the serialised {@code <stream:features/>}
 */
public record StreamOpened(String id, String from, String features) {
}
