"""What a failing call to the moto extension returned: its fault code (and HTTP status)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def fault(call) -> tuple[str, int]:
    """The code and HTTP status a call fails with (as botocore's RDS model has them)."""
    with pytest.raises(ClientError) as info:
        call()
    return (info.value.response["Error"]["Code"],
            info.value.response["ResponseMetadata"]["HTTPStatusCode"])


def code_of(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]
