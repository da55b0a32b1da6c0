def test_a_timed_out_reason_records_its_limit():
    from emobrowser.core.errors import timed_out, timed_out_limit

    assert timed_out_limit(timed_out(300)) == 300
    assert timed_out_limit(timed_out(4.5)) == 4.5
    assert timed_out_limit("timed out after 300 s (decoder hung)") == 300  # as older versions wrote it
    assert timed_out_limit("truncated video: decoded 0.0 s of 3.0 s") is None
