package io.xbosh.protocol;

/** The adversarial bodies of {@link BodyParserCostTest}, for the hostile-client suite. */
public final class BodyParserCostTestAccess {

  private BodyParserCostTestAccess() {
  }

  public static byte[] adversarialBody(int request, int maxBytes) {
    return BodyParserCostTest.adversarialBody(request, maxBytes);
  }
}
