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
