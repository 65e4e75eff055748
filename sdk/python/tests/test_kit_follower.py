"""The feed follower's thread: stopping it while the stream is silent."""

from conftest import AUDIENCE, Issuer
from tessera_fastapi import TesseraGuard


def test_close_ends_the_follower_while_the_stream_is_silent(issuer: Issuer) -> None:
    # No heartbeat comes before the read timeout: only an interrupted read ends the
    # thread within close()'s join (a closed response alone leaves it blocked in recv).
    issuer.stream_open = True
    guard = TesseraGuard(
        issuer=issuer.url,
        audience=AUDIENCE,
        client_id="sa_kit",
        client_secret="s3cret",
        feed_read_timeout=300,
    )
    guard.start()
    follower = guard.follower
    assert follower is not None
    assert follower.live
    guard.close()
    assert follower._thread is not None
    assert not follower._thread.is_alive()
    assert not follower.live
