"""``local_media``'s ratios: listening now against the edge as filed comes from one point, the
two hosts measured beside each other, at the largest size that has both."""

from __future__ import annotations

from typing import Any

from benchmarks.scenarios import local_media


def _point(mode: str, n: int) -> dict[str, Any]:
    return {"mode": mode, "participants": n, "hold_s": 6.0}


def _host(ms: float) -> dict[str, Any]:
    return {"cpu_ms_per_s_per_participant": ms, "audio_fps_per_participant": 50.0}


def test_now_against_filed_is_the_beside_figure_over_the_filed_one_at_the_largest_size() -> None:
    results = [
        (_point("separate audio", 4), _host(99.0)),  # another window: not part of this ratio
        (_point("separate +video", 4), _host(40.0)),
        (
            _point(local_media.AS_FILED, 2),
            {**_host(60.0), "beside_cpu_ms_per_s_per_participant": 30.0},
        ),
        (
            _point(local_media.AS_FILED, 4),
            {**_host(50.0), "beside_cpu_ms_per_s_per_participant": 20.0},
        ),
        (_point(local_media.AS_FILED, 8), {"error": "timed out"}),  # no size without both
    ]
    ratios = local_media.summarize(results)["ratios"]
    assert ratios["audio_only_vs_filed"] == 20.0 / 50.0
    assert ratios["audio_only_vs_video"] == 99.0 / 40.0


def test_no_filed_ratio_without_a_point_that_measured_both() -> None:
    results = [(_point(local_media.AS_FILED, 8), {"error": "no git history here"})]
    assert "audio_only_vs_filed" not in local_media.summarize(results)["ratios"]
