"""Responder tracks and ``replay.html``: the data, the file, and the page in Chromium."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from html.parser import HTMLParser

import numpy as np
import pytest

from kayou_dispatch import InvalidParameterError, load_network
from kayou_dispatch.simulation import BUILTIN_POLICIES, Scenario, simulate
from kayou_dispatch.simulation.replay import replay_data, write_replay
from kayou_dispatch.simulation.runner import TRACK_STATUS

from ..browser import js_errors, start_browser, wait_for

SMALL = Scenario(
    hours=1.0, responders=120, service_vehicles=4, share=0.2, seed=5, serious_on_highway=0
)
POLICY = BUILTIN_POLICIES["road-eta/sequential"]


@pytest.fixture(scope="module")
def net():
    return load_network("helsinki")


@pytest.fixture(scope="module")
def day(net):
    return simulate(net, SMALL, POLICY, track_every_s=60.0)


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._attrs: dict[str, str | None] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._attrs = dict(attrs)
            self.scripts.append((self._attrs, ""))

    def handle_data(self, data):
        if self._attrs is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._attrs = None


def test_tracks_record_every_responder_without_changing_the_day(net, day):
    plain = simulate(net, SMALL, POLICY)
    strip = lambda m: {k: v for k, v in m.items() if k != "simulator"}  # noqa: E731
    assert strip(day.metrics) == strip(plain.metrics)
    assert plain.tracks is None
    tr = day.tracks
    n = SMALL.responders + SMALL.service_vehicles
    assert len(tr.ids) == n and tr.lat.shape == tr.lng.shape == tr.status.shape
    assert tr.lat.shape[1] == n
    assert np.all(np.diff(tr.times_s) > 0) and tr.times_s[0] == 0.0
    assert np.allclose(np.diff(tr.times_s)[:-1], 60.0)
    assert set(np.unique(tr.status)) <= set(range(len(TRACK_STATUS)))
    assert (tr.status == TRACK_STATUS.index("on_scene")).any()  # someone reached a scene
    s, w, nn, e = net.bounds
    assert np.all((tr.lat >= s - 1e-4) & (tr.lat <= nn + 1e-4))
    assert np.all((tr.lng >= w - 1e-4) & (tr.lng <= e + 1e-4))


def test_track_every_s_is_checked(net):
    for bad in (0, -1.0, float("nan"), "60"):
        with pytest.raises(InvalidParameterError, match="track_every_s"):
            simulate(net, SMALL, POLICY, track_every_s=bad)


def test_replay_data_round_trips_positions_and_incidents(net, day):
    data = replay_data(net, SMALL, day)
    tr = data["tracks"]
    frames = len(tr["times_s"])
    assert frames == len(day.tracks.times_s)  # under the point budget: nothing thinned
    lat = np.frombuffer(base64.b64decode(tr["lat"]), dtype="<u2").reshape(frames, tr["n"])
    lat0 = data["network"]["origin"][0]
    back = lat0 + lat / data["network"]["scale"]
    assert np.abs(back - day.tracks.lat).max() < 1e-5 + 1e-6  # the ~1 m grid
    status = np.frombuffer(base64.b64decode(tr["status"]), dtype=np.uint8)
    assert np.array_equal(status.reshape(frames, tr["n"]), day.tracks.status)
    inc = data["incidents"]
    assert len(inc["id"]) == len(day.records)
    assert inc["reported_s"] == sorted(inc["reported_s"])
    assert sum(inc["served"]) == day.metrics["served"]


def test_replay_thins_frames_to_the_point_budget_and_keeps_the_end(net, day):
    n = day.tracks.lat.shape[1]
    data = replay_data(net, SMALL, day, max_points=10 * n)
    times = data["tracks"]["times_s"]
    assert len(times) <= 11 and times[-1] == pytest.approx(day.tracks.times_s[-1], abs=0.1)
    with pytest.raises(InvalidParameterError, match="max_points"):
        replay_data(net, SMALL, day, max_points=0)
    plain = simulate(
        net, Scenario(hours=0.2, responders=20, share=0.05, serious_on_highway=0), POLICY
    )
    with pytest.raises(InvalidParameterError, match="no tracks"):
        replay_data(net, SMALL, plain)


def test_replay_html_is_one_self_contained_file(net, day, tmp_path):
    path = write_replay(tmp_path / "replay.html", net, SMALL, day)
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "{{" not in html
    assert "http://" not in html and "https://" not in html  # nothing fetched
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    assert all("src" not in attrs for attrs, _ in parser.scripts)  # all inline
    data_scripts = [text for attrs, text in parser.scripts if attrs.get("id") == "replay-data"]
    data = json.loads(data_scripts[0])
    assert data["policy"] == "road-eta/sequential" and len(data["incidents"]["id"]) > 10
    assert any("KayouMap" in text for _, text in parser.scripts)


def status_at(tracks, t):
    """Each responder's status at ``t`` from the change log (float32 times, as the page)."""
    st = np.zeros(len(tracks.ids), dtype=np.int64)
    for ts, row, code in zip(
        tracks.change_s.astype(np.float32).tolist(),
        tracks.change_row.tolist(),
        tracks.change_status.tolist(),
        strict=True,
    ):
        if ts <= t:
            st[row] = code
    return st


def test_change_log_agrees_with_the_frames(day):
    tr = day.tracks
    assert tr.change_s.size > 50 and (np.diff(tr.change_s) >= 0).all()
    for f in range(0, tr.times_s.size, 7):  # a frame holds the state before its second's events
        t = tr.times_s[f]
        before = np.zeros(len(tr.ids), dtype=np.int64)
        for ts, row, code in zip(tr.change_s, tr.change_row, tr.change_status, strict=True):
            if ts < t:
                before[row] = code
        assert (before == tr.status[f]).all()
    assert {1, 2, 3, 4} <= set(tr.change_status.tolist())  # offers, accepts, drives, arrivals


@pytest.mark.browser
def test_replay_page_plays_in_chromium(net, day, tmp_path):
    path = write_replay(tmp_path / "replay.html", net, SMALL, day)
    profile = tempfile.mkdtemp(prefix="kayou-chromium-")
    browser = start_browser(profile)
    try:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        browser.get(path.as_uri())
        wait_for(browser, "!!window.kayouReplay")
        start = browser.execute_script("return window.kayouReplay.time()")
        # It opens on a recorded frame, the busiest: offers and assignments on the map.
        assert any(abs(start - f) < 0.01 for f in day.tracks.times_s)
        opened = browser.execute_script("return window.kayouReplay.drawn()")
        busy = status_at(day.tracks, start)
        assert opened["lines"] == int(((busy >= 1) & (busy <= 3)).sum()) > 0
        slider = browser.find_element(By.ID, "slider")
        width = slider.size["width"]
        # Drag the slider to a quarter of the day: the map shows that moment.
        ActionChains(browser).move_to_element_with_offset(slider, -width // 4, 0).click().perform()
        t = browser.execute_script("return window.kayouReplay.time()")
        end_s = day.tracks.times_s[-1]
        assert t != start and 0.1 * end_s < t < 0.4 * end_s
        drawn = browser.execute_script("return window.kayouReplay.drawn()")
        on_duty = int((status_at(day.tracks, t) != 5).sum())
        assert drawn["responders"] == on_duty > 0
        open_now = [
            r
            for r in day.records
            if r.reported_s <= t and not (r.closed_s <= t)  # NaN: still open
        ]
        assert drawn["incidents"] == len(open_now) > 0
        assert browser.find_element(By.ID, "clock").text.count(":") == 1
        browser.find_element(By.ID, "play").click()
        wait_for(browser, f"window.kayouReplay.time() > {t + 30}")
        assert js_errors(browser) == []
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.browser
def test_replay_coverage_layer_on_the_region(tmp_path):
    region = load_network()
    sc = Scenario(hours=0.5, responders=30, service_vehicles=2, share=0.05, seed=4)
    day = simulate(region, sc, POLICY, track_every_s=30.0)
    path = write_replay(tmp_path / "replay.html", region, sc, day)
    data = replay_data(region, sc, day)
    assert data["coverage"]["segments"] == len(day.coverage.segments) > 300
    assert data["tracks"]["scale"] < data["network"]["scale"]  # 100 km: coarser uint16 steps
    profile = tempfile.mkdtemp(prefix="kayou-chromium-")
    browser = start_browser(profile)
    try:
        from selenium.webdriver.common.by import By

        browser.get(path.as_uri())
        wait_for(browser, "!!window.kayouReplay")
        assert browser.execute_script("return window.kayouReplay.map.overlay.length") == 0
        browser.find_element(By.ID, "coverage").click()
        n = wait_for(browser, "window.kayouReplay.map.overlay.length")
        assert n == len(data["coverage"]["offsets"]) - 1
        # Trucks drawn where the tracks put them: inside the region, on its roads' extent.
        assert browser.execute_script("return window.kayouReplay.drawn().responders") > 0
        assert js_errors(browser) == []
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
