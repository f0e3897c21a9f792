"""What pins a MySQL session in the emulator (its own reading of "Avoiding pinning an RDS
Proxy"): each documented condition, the tracked variables that don't pin, and
SessionPinningFilters EXCLUDE_VARIABLE_SETS."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdsproxyctl.sandbox.emulator.mysql.pinning import digest, judge, split_top_level


@pytest.mark.parametrize("sql, reason", [
    ("SET @x := 1", "user_variable"),
    ("set @x = 1, @y = 2", "user_variable"),
    ("SELECT @x := 1", "user_variable"),
    ("SET SESSION wait_timeout = 100", "session_variable"),
    ("SET @@session.wait_timeout = 100", "session_variable"),
    ("SET NAMES utf8mb4, @x = 1", "user_variable"),
    ("LOCK TABLES t WRITE", "table_lock"),
    ("lock table t read", "table_lock"),
    ("FLUSH TABLES WITH READ LOCK", "table_lock"),
    ("SELECT GET_LOCK('job', 10)", "named_lock"),
    ("CREATE TEMPORARY TABLE tmp (id int)", "temporary_table"),
    ("PREPARE s FROM 'SELECT 1'", "prepared_statement"),
    ("/* app */ SET @x = 1", "user_variable"),
    ("SELECT 1; SET @x = 1", "user_variable"),
    ("SELECT '" + "x" * 17000 + "'", "statement_too_large"),
])
def test_documented_conditions_pin(sql, reason):
    assert judge(sql).pin == reason


@pytest.mark.parametrize("sql", [
    "SELECT 1", "SELECT @x", "INSERT INTO t VALUES ('SET @x = 1')", "BEGIN", "COMMIT",
    "SET autocommit = 0", "SET NAMES utf8mb4", "SET CHARACTER SET utf8mb4",
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES'", "SET time_zone = '+00:00'",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET @@session.transaction_isolation = 'READ-COMMITTED'", "SET GLOBAL max_connections = 10",
    "USE app", "SELECT 'GET_LOCK' AS word",
])
def test_tracked_statements_and_plain_queries_do_not_pin(sql):
    assert judge(sql).pin is None


def test_tracked_settings_are_remembered_for_the_next_connection():
    verdict = judge("SET NAMES utf8mb4, autocommit = 0")
    assert verdict.pin is None and set(verdict.tracked) == {"names", "autocommit"}
    assert judge("USE `shop`").database == "shop"


@pytest.mark.parametrize("sql", ["SET @x := 1", "SET SESSION wait_timeout = 100",
                                 "SELECT @x := 1"])
def test_exclude_variable_sets_stops_sets_pinning(sql):
    assert judge(sql).pin is not None
    assert judge(sql, exclude_variable_sets=True).pin is None


def test_exclude_variable_sets_leaves_the_other_conditions():
    assert judge("LOCK TABLES t WRITE", exclude_variable_sets=True).pin == "table_lock"
    assert judge("SELECT GET_LOCK('a', 1)", exclude_variable_sets=True).pin == "named_lock"


def test_digest_hides_literals():
    assert digest("SET @x := 1") == "SET @x := ?"
    assert digest("select  GET_LOCK('secret-name', 10)") == "select GET_LOCK(?, ?)"


@given(st.text(max_size=200))
def test_any_text_gets_a_verdict(sql):
    verdict = judge(sql)
    assert verdict.pin is None or isinstance(verdict.pin, str)
    assert ";".join(split_top_level(sql, ";")) == sql  # splitting loses nothing
