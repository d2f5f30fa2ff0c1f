"""The per-minute answers BatchingSource keeps between ticks: rows per series, columns per
minute, grown as needed and let go when old."""

from __future__ import annotations

from controlplane.prometheus.batching import MinuteTable


def test_values_land_in_their_row_and_column_however_many_there_are() -> None:
    table = MinuteTable()
    for route in range(100):
        for minute in range(90):
            row = table.row(f"r{route}", ("canary",))
            table.put(row, table.column(60 * minute), route * 1000 + minute)
    assert table.values.shape[0] >= 100
    assert table.values.shape[1] >= 90
    [(key, row)] = table.by_route["r42"]
    assert key == ("canary",)
    assert table.values[row, table.columns[60 * 7]] == 42_007


def test_old_minutes_are_let_go_and_the_rest_kept() -> None:
    table = MinuteTable()
    row = table.row("chat", ("default",))
    for minute in range(10):
        table.put(row, table.column(60 * minute), minute)
    table.forget_before(60 * 6)
    assert sorted(table.columns) == [360, 420, 480, 540]
    assert [table.values[row, table.columns[60 * m]] for m in (6, 9)] == [6, 9]
    assert table.oldest == 360
    table.forget_before(60 * 6)  # nothing older: nothing moves
    assert table.columns[360] == 0
