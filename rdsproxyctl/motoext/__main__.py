"""``python -m rdsproxyctl.motoext [-p PORT]``: a moto server with the extension installed."""

from rdsproxyctl.motoext import main

main()
