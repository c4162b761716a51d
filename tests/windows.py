import time


def away_from_window_edge(window_seconds: int, margin: float = 5.0) -> None:
    """Rate limits count in fixed windows aligned to the clock: a test that fills one must
    not straddle two, or the count starts over halfway. Waits out the last `margin`
    seconds of the current window if we are in them."""
    left = window_seconds - (time.time() % window_seconds)
    if left < margin:
        time.sleep(left + 0.05)
