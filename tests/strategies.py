"""Shared hypothesis strategies for the test suite."""

from hypothesis import strategies as st

lat_values = st.floats(min_value=-90.0, max_value=90.0, allow_nan=False)
lng_values = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)


def latlngs():
    """Any valid WGS-84 point, poles and antimeridian included."""
    return st.tuples(lat_values, lng_values)


def china_points():
    """Points well inside mainland China (east and central), where GCJ-02 applies."""
    return st.tuples(
        st.floats(min_value=23.0, max_value=41.0),
        st.floats(min_value=102.0, max_value=119.0),
    )


def random_cloud(rng, n, center, spread_m):
    """``n`` numpy-random points around ``center``, wrapping the antimeridian."""
    import numpy as np

    lat0, lng0 = center
    lat = np.clip(lat0 + rng.uniform(-spread_m, spread_m, n) / 111_195.0, -90.0, 90.0)
    coslat = np.maximum(0.01, np.cos(np.radians(lat)))
    dx = rng.uniform(-spread_m, spread_m, n)
    lng = (lng0 + dx / (111_195.0 * coslat) + 180.0) % 360.0 - 180.0
    return lat, lng
