"""Sliders: one evaluation per value, the same frames in the static page, in print and live."""
import json
import re

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rmm_lib.widgets import BOOK_PLOTLY_JS, Frame, Layout, Series, Slider  # noqa: E402

BARS = Layout(x=["a", "b", "c"], x_title="class", y_title="accuracy", y_range=(0, 1))


def bars_at(rate):
    y = [1 - rate, 0.5, rate]
    return Frame([Series("model", y, error=([0.1] * 3, [0.05] * 3)), Series("other", [0.2, 0.2, 0.2])],
                 title=f"rate {rate}")


def test_every_value_is_evaluated_once_and_becomes_one_frame():
    seen = []
    view = Slider(lambda r: seen.append(r) or bars_at(r), [0.0, 0.5, 1.0], BARS)
    fig = view.figure_dict()
    assert seen == [0.0, 0.5, 1.0] and len(fig["frames"]) == 3
    for rate, frame in zip([0.0, 0.5, 1.0], fig["frames"]):
        assert frame["data"][0]["y"] == [1 - rate, 0.5, rate] and frame["layout"]["title"]["text"] == f"rate {rate}"
        assert frame["data"][0]["error_y"]["arrayminus"] == [0.1] * 3
    assert fig["data"] == fig["frames"][0]["data"]  # the page opens at the first value


def test_slider_steps_animate_to_their_frame_and_the_axis_never_rescales():
    fig = Slider(bars_at, [0.0, 0.5, 1.0], BARS).figure_dict()
    steps = fig["layout"]["sliders"][0]["steps"]
    assert [s["label"] for s in steps] == ["0%", "50%", "100%"]
    assert [s["args"][0][0] for s in steps] == [f["name"] for f in fig["frames"]]
    assert fig["layout"]["yaxis"]["range"] == [0, 1] and fig["layout"]["yaxis"]["autorange"] is False


def test_a_line_with_a_band_is_drawn_as_lower_upper_and_line_with_a_marker():
    lay = Layout(x=[10, 30, 50], x_title="p (%)", y_title="Acc-2 (%)", y_range=(0, 100), kind="line")
    view = Slider(lambda p: Frame([Series("V->T", [50, 55, 60], band=([45, 50, 55], [55, 60, 65]))], marker=p),
                  [10, 50], lay)
    frame = view.figure_dict()["frames"][1]
    lower, upper, line = frame["data"]
    assert lower["y"] == [45, 50, 55] and upper["fill"] == "tonexty" and line["y"] == [50, 55, 60]
    assert frame["layout"]["shapes"][0]["x0"] == 50


def test_series_from_bands_turn_an_interval_into_error_bars_or_a_band():
    bands = {"mean": [0.5, 0.7], "low": [0.4, 0.65], "high": [0.55, 0.9]}
    bars = Series.bars("m", bands)
    assert np.allclose(bars.error[0], [0.1, 0.05]) and np.allclose(bars.error[1], [0.05, 0.2])
    line = Series.line("m", bands)
    assert list(line.y) == [0.5, 0.7] and line.band == ([0.4, 0.65], [0.55, 0.9]) and line.error is None


def test_the_page_html_carries_the_figure_and_loads_plotly_locally_then_from_the_cdn():
    from plotly.offline import get_plotlyjs_version

    html = Slider(lambda r: Frame([Series("m", [r, np.nan, 0.5])], title="</script>"), [0.1, 0.2],
                  BARS).interactive()._repr_html_()
    payload = re.search(r'<script type="application/json" id="(rmm-slider-\w+)-figure">(.*?)</script>', html, re.S)
    fig = json.loads(payload.group(2))
    assert fig["frames"][1]["data"][0]["y"] == [0.2, None, 0.5]  # NaN becomes a gap, not invalid JSON
    assert fig["layout"]["title"]["text"] == "</script>"
    assert f'id="{payload.group(1)}"' in html and BOOK_PLOTLY_JS in html
    assert html.index(BOOK_PLOTLY_JS) < html.index(f"plotly-{get_plotlyjs_version()}.min.js")


def test_the_same_data_give_the_same_html():
    a, b = (Slider(bars_at, [0.0, 1.0], BARS).interactive()._repr_html_() for _ in range(2))
    assert a == b  # a re-executed notebook changes only when its numbers do


def test_small_multiples_show_every_frame_on_one_y_range():
    fig = Slider(bars_at, [0.0, 0.5, 1.0], BARS).small_multiples(ncols=2)
    assert len(fig.axes) == 4 and fig.axes[3].axison is False
    assert {ax.get_ylim() for ax in fig.axes[:3]} == {(0.0, 1.0)}
    assert [ax.get_title() for ax in fig.axes[:3]] == ["rate 0.0", "rate 0.5", "rate 1.0"]


def test_the_live_slider_re_evaluates_when_moved():
    pytest.importorskip("ipywidgets")
    seen = []
    view = Slider(lambda r: seen.append(r) or bars_at(r), [0.1, 0.3], BARS)
    box = view.live()
    box.children[0].value = 0.3
    assert seen == [0.1, 0.3, 0.1, 0.3]  # the frames once each, then live: the first value, then the move


@pytest.mark.parametrize("evaluate, values, message", [
    (lambda r: {"y": r}, [0.1], "must return a rmm_lib.widgets.Frame"),
    (lambda r: Frame([Series("m", [r, r])]), [0.1], "y has 2 values for 3 x positions"),
    (lambda r: Frame([Series("m", [r] * 3, error=([0] * 3, [0] * 2))]), [0.1], r"error\[1\] has 2 values"),
    (lambda r: Frame([Series(f"m{r}", [r] * 3)]), [0.1, 0.2], "the same series in the same order"),
    (bars_at, [], "at least one value"),
    (bars_at, [0.1, 0.1], "must be distinct"),
])
def test_bad_frames_are_refused_with_what_to_fix(evaluate, values, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Slider(evaluate, values, BARS)


def test_bad_layouts_are_refused():
    with pytest.raises(ValueError, match="'bar' or 'line'"):
        Layout(x=[1], x_title="", y_title="", y_range=(0, 1), kind="pie")
    with pytest.raises(ValueError, match="low < high"):
        Layout(x=[1], x_title="", y_title="", y_range=(1, 0))
